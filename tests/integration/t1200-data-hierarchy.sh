#!/bin/bash
# t1200-data-hierarchy: data files named by hierarchy: in site.yaml, merged
# per host over the class's and site's vars (maps deeply, lists replaced);
# congruent vars says where each value came from; check reads every data
# file; plan and run render a template with a hierarchy value.
. "$(dirname "$0")/../lib/lib.sh"

policy() {
	rm -rf pol && mkdir -p pol/roles pol/templates pol/data/hosts pol/data/os
	cat >pol/site.yaml <<-\EOF
	hierarchy:
	  - "hosts/{{ hostname }}.yaml"
	  - "os/{{ os_id }}.yaml"
	  - common.yaml
	classes:
	  - match: "web-*"
	    roles: [web]
	    vars:
	      listen: 8080
	vars:
	  listen: 80
	  ntp: site.example.com
	EOF
	cat >pol/data/common.yaml <<-\EOF
	db:
	  host: db.example.com
	  port: 5432
	servers: [a, b]
	EOF
	cat >pol/data/os/debian.yaml <<-\EOF
	ntp: debian.pool.ntp.org
	EOF
	cat >pol/data/hosts/web-2.yaml <<-\EOF
	db:
	  host: db2.example.com
	servers: [c]
	EOF
	cat >pol/roles/web.yaml <<-\EOF
	resources:
	  - file: /etc/app.conf
	    template: templates/app.conf
	EOF
	cat >pol/templates/app.conf <<-\EOF
	db {{ db.host }}:{{ db.port }}
	servers {{ servers | join(",") }}
	listen {{ listen }} ntp {{ ntp }}
	EOF
}

test_expect_success 'check reads the hierarchy and every data file' '
	policy &&
	cg check pol
'

test_expect_success 'vars explains web-1: common and os data over class over site' '
	test_make_root r1 && printf "ID=debian\n" >r1/etc/os-release &&
	cg vars --policy pol --root r1 --hostname web-1 >out &&
	cat >want <<-\EOF &&
	listen                   8080                             site.yaml:9
	ntp                      debian.pool.ntp.org              data/os/debian.yaml:1
	db.host                  db.example.com                   data/common.yaml:2
	db.port                  5432                             data/common.yaml:3
	servers                  [a, b]                           data/common.yaml:4
	EOF
	test_cmp want out
'

test_expect_success 'vars explains web-2: its host file overrides, maps merged deeply' '
	test_make_root r2 && printf "ID=debian\n" >r2/etc/os-release &&
	cg vars --policy pol --root r2 --hostname web-2 --format json >out.json &&
	jq -r ".vars[] | [.name, (.value|tostring), .from] | @tsv" out.json >out &&
	printf "listen\t8080\tsite.yaml:9\n" >want &&
	printf "ntp\tdebian.pool.ntp.org\tdata/os/debian.yaml:1\n" >>want &&
	printf "db.host\tdb2.example.com\tdata/hosts/web-2.yaml:2\n" >>want &&
	printf "db.port\t5432\tdata/common.yaml:3\n" >>want &&
	printf "servers\t[\"c\"]\tdata/hosts/web-2.yaml:3\n" >>want &&
	test_cmp want out
'

test_expect_success 'plan predicts run for a template using hierarchy values' '
	mkdir -p r2/etc &&
	test_expect_code 2 cg plan --policy pol --root r2 --hostname web-2 \
		--format json >plan.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json >plan.out &&
	printf "file:/etc/app.conf\tdrifted\n" >want && test_cmp want plan.out &&
	test_expect_code 2 cg run --policy pol --root r2 --hostname web-2 \
		--format json >run.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json >run.out &&
	printf "file:/etc/app.conf\trepaired\n" >want && test_cmp want run.out &&
	printf "db db2.example.com:5432\nservers c\nlisten 8080 ntp debian.pool.ntp.org\n" >want &&
	test_cmp want r2/etc/app.conf &&
	cg plan --policy pol --root r2 --hostname web-2 >out &&
	test_grep "= file:/etc/app.conf" out
'

test_expect_success 'a host with no file of its own skips that level' '
	mkdir -p r1/etc &&
	test_expect_code 2 cg run --policy pol --root r1 --hostname web-1 &&
	printf "db db.example.com:5432\nservers a,b\nlisten 8080 ntp debian.pool.ntp.org\n" >want &&
	test_cmp want r1/etc/app.conf
'

test_expect_success 'check catches a bad data file, with file:line' '
	printf "db: [unclosed\n" >pol/data/hosts/web-3.yaml &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "data/hosts/web-3.yaml:" err &&
	printf -- "- a list\n" >pol/data/hosts/web-3.yaml &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "data/hosts/web-3.yaml:1: a data file must be a map of vars, not a list" err &&
	rm pol/data/hosts/web-3.yaml
'

test_expect_success 'check refuses a level that interpolates no fact' '
	sed -i "s/{{ os_id }}/{{ os_type }}/" pol/site.yaml &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "site.yaml:3: hierarchy level '\''os/{{ os_type }}.yaml'\'': '\''os_type'\'' is not a fact" err &&
	sed -i "s/{{ os_type }}/{{ os_id }}/" pol/site.yaml
'

test_expect_success 'check renders templates with the names data files give' '
	sed -i "s/^servers: \[a, b\]$//" pol/data/common.yaml &&
	rm pol/data/hosts/web-2.yaml &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "templates/app.conf:2:" err &&
	test_grep "servers" err
'

test_done
