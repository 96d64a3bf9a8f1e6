#!/bin/bash
# t2400-file-template-logic: structured vars and a template with a loop and
# conditions, through check, plan and run, per class; and what is outside
# the template subset is refused, never written literally.
. "$(dirname "$0")/../lib/lib.sh"

policy() {
	rm -rf pol && mkdir -p pol/roles pol/templates
	cat >pol/site.yaml <<-\EOF
	classes:
	  - match: "web-*"
	    roles: [web]
	    vars:
	      upstreams:
	        - { name: app1, addr: 10.0.0.1, weight: 3 }
	        - { name: app2, addr: 10.0.0.2 }
	      ports: { https: 443, http: 80 }
	  - match: "*"
	    roles: [web]
	vars:
	  upstreams: []
	  ports: { http: 8080 }
	  tls: true
	EOF
	cat >pol/roles/web.yaml <<-\EOF
	resources:
	  - file: /etc/nginx/app.conf
	    template: templates/app.conf
	EOF
	cat >pol/templates/app.conf <<-\EOF
	{# managed by congruent #}
	upstream app {
	{% for u in upstreams %}
	    server {{ u.addr }} weight={{ u.weight | default(1) }};{% if loop.first %} # first{% endif %}

	{% else %}
	{% endfor %}
	}
	EOF
}

want_web() {
	cat <<-\EOF
	upstream app {
	    server 10.0.0.1 weight=3; # first
	    server 10.0.0.2 weight=1;
	}
	listen 80; # http
	listen 443; # https
	ssl on;
	os debian
	EOF
}

write_template() {
	cat >pol/templates/app.conf <<-\EOF
	{# managed by congruent #}
	upstream app {
	{% for u in upstreams %}
	    server {{ u.addr }} weight={{ u.weight | default(1) }};{% if loop.first %} # first{% endif %}

	{% endfor %}
	}
	{% for name, port in ports | dictsort %}
	listen {{ port }}; # {{ name }}
	{% endfor %}
	{% if tls and 'https' in ports %}
	ssl on;
	{% endif %}
	os {{ os_id | default('unknown') }}
	EOF
}

test_expect_success 'check finds a block outside the subset, with line:column' '
	policy &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "templates/app.conf:6:1: file:/etc/nginx/app.conf: for the class at site.yaml:2: {% else %} without an open block" err
'

test_expect_success 'run refuses it too, and writes nothing literally' '
	test_make_root root &&
	test_expect_code 4 cg run --policy pol --root root --hostname web-1 >out &&
	test_grep "templates/app.conf:6:1: {% else %} without an open block" out &&
	test ! -e root/etc/nginx/app.conf
'

test_expect_success 'a supported template passes check for every class' '
	write_template &&
	cg check pol
'

test_expect_success 'plan shows the rendered loop, run writes it, plan is then congruent' '
	printf "ID=debian\nVERSION_ID=12\n" >root/etc/os-release &&
	mkdir -p root/etc/nginx &&
	test_expect_code 2 cg plan --policy pol --root root --hostname web-1 \
		--format json >plan.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" plan.json >plan.out &&
	printf "file:/etc/nginx/app.conf\tdrifted\n" >want && test_cmp want plan.out &&
	test ! -e root/etc/nginx/app.conf &&
	test_expect_code 2 cg run --policy pol --root root --hostname web-1 \
		--format json >run.json &&
	jq -r ".resources[] | [.id, .status] | @tsv" run.json >run.out &&
	printf "file:/etc/nginx/app.conf\trepaired\n" >want && test_cmp want run.out &&
	want_web >want && test_cmp want root/etc/nginx/app.conf &&
	cg plan --policy pol --root root --hostname web-1 >out &&
	test_grep "= file:/etc/nginx/app.conf" out
'

test_expect_success 'another class renders with its own vars' '
	test_make_root other &&
	printf "ID=debian\n" >other/etc/os-release &&
	mkdir -p other/etc/nginx &&
	test_expect_code 2 cg run --policy pol --root other --hostname db-1 &&
	printf "upstream app {\n}\nlisten 8080; # http\nos debian\n" >want &&
	test_cmp want other/etc/nginx/app.conf
'

test_expect_success 'check renders per class: a var one class lacks is found' '
	sed -i "s/^  upstreams: \[\]$//" pol/site.yaml &&
	test_expect_code 1 cg check pol 2>err &&
	test_grep "templates/app.conf:3:13: file:/etc/nginx/app.conf: for the class at site.yaml:9: unknown variable" err &&
	! grep -q "site.yaml:2:" err
'

test_done
