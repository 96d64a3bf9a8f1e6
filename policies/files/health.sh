#!/bin/sh
# health: a quick look at this host for the on-call operator.
uptime
df -h / /var 2>/dev/null
systemctl --failed --no-legend 2>/dev/null || true
