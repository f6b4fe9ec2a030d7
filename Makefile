# Chatvisor for nginx: build, test, demo, bench.
SHELL := /bin/bash
# `make` builds build/ngx_chatvisor_module.so for Debian's stock nginx.

NGX_SRC      ?= /usr/share/nginx/src
BUILD        := build
NGX_BUILD    := $(BUILD)/nginx
MODULE       := $(BUILD)/ngx_chatvisor_module.so
GEN          := $(BUILD)/gen
ASSETS_C     := $(GEN)/ngx_chatvisor_assets.c
DEFAULTS_H   := $(GEN)/ngx_chatvisor_defaults.h
NGX_CC_OPT   := -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
                -fstack-protector-strong -D_FORTIFY_SOURCE=2

ENGINE_SRCS  := $(wildcard engine/*.c)
CTL          := $(BUILD)/chatvisorctl
ENGINE_HDRS  := $(wildcard engine/*.h)
ENGINE_TESTS := $(patsubst engine/t/%.c,$(BUILD)/engine/%,$(wildcard engine/t/test_*.c))
ENGINE_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Werror -Iengine \
                 -fsanitize=address,undefined -fno-omit-frame-pointer
ENGINE_LIBS  := -llmdb -lcjson -lcrypto -lm

MODULE_SRCS  := config $(wildcard ngx_chatvisor_module/*.[ch] \
                                  ngx_chatvisor_module/*/*.[ch]) \
                $(ENGINE_SRCS) $(ENGINE_HDRS)
WWW_SRCS     := $(shell find www -type f 2>/dev/null) scripts/build-www.mjs \
                package-lock.json $(wildcard docs/openapi.json)

.PHONY: all deps deps-test deps-bench deps-deb assets engine-tests test \
        test-build test-asan demo demo-stop bench clean fuzz fuzz-build fuzz-replay \
        fuzz-coverage deb

all: deps $(MODULE) $(CTL)

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

deps-deb:
	@scripts/install-deps.sh deb

assets: $(ASSETS_C) $(DEFAULTS_H)

# the same command writes $(DEFAULTS_H), the widget's defaults from
# www/shared/defaults.json for the C code (its file is rewritten only when
# its text changes); the second rule only makes it again should it be gone
$(ASSETS_C): $(WWW_SRCS) | deps
	node scripts/build-www.mjs $(BUILD)/www $(GEN)

$(DEFAULTS_H): $(ASSETS_C)
	@test -f $@ || node scripts/build-www.mjs $(BUILD)/www $(GEN)

# nginx is configured once in a private copy of Debian's tree, never in
# /usr/share; the flags are Debian's own so the module's signature matches.
# nginx's Makefile lists the sources: configure again when files come or go
SRC_LIST := $(BUILD)/sources.list
$(shell mkdir -p $(BUILD); echo $(sort $(wildcard ngx_chatvisor_module/*.[ch] \
    ngx_chatvisor_module/*/*.[ch] engine/cv_*.[ch])) > $(SRC_LIST).new; cmp -s $(SRC_LIST).new $(SRC_LIST) \
    || mv $(SRC_LIST).new $(SRC_LIST); rm -f $(SRC_LIST).new)

$(NGX_BUILD)/objs/Makefile: config $(SRC_LIST) $(ASSETS_C) $(DEFAULTS_H)
	rm -rf $(NGX_BUILD).new && mkdir -p $(BUILD) \
	    && cp -r $(NGX_SRC) $(NGX_BUILD).new
	cd $(NGX_BUILD).new && . ./conf_flags \
	    && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt='$(NGX_CC_OPT)' \
	    --add-dynamic-module=$(CURDIR) > configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }
	rm -rf $(NGX_BUILD) && mv $(NGX_BUILD).new $(NGX_BUILD)

$(MODULE): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS) $(ASSETS_C) $(DEFAULTS_H)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new inode: a running nginx keeps its mapped copy intact
	cp $(NGX_BUILD)/objs/ngx_chatvisor_module.so $@.tmp && mv $@.tmp $@

# the engine is compiled once for all its unit tests (each test used to
# compile every engine file again: 23 x 31 files under ASan/UBSan)
ENGINE_OBJS  := $(patsubst engine/%.c,$(BUILD)/engine/obj/%.o,$(ENGINE_SRCS))

$(BUILD)/engine/obj/%.o: engine/%.c $(ENGINE_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(ENGINE_CFLAGS) -c -o $@ $<

.SECONDARY: $(ENGINE_OBJS)

$(BUILD)/engine/%: engine/t/%.c $(wildcard engine/t/*.h) $(ENGINE_OBJS) \
                   $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ENGINE_CFLAGS) -o $@ $< $(ENGINE_OBJS) $(ENGINE_LIBS) \
	    $(ENGINE_TEST_LDFLAGS)

# test_alloc makes the engine's own allocations fail, one at a time: its
# calls to malloc, calloc and realloc go to the test's wrappers
$(BUILD)/engine/test_alloc: ENGINE_TEST_LDFLAGS := -Wl,--wrap=malloc \
    -Wl,--wrap=calloc -Wl,--wrap=realloc

engine-tests: $(ENGINE_TESTS)

# (after deps: with make -j it would compile before the headers it needs
# are installed)
$(CTL): tools/chatvisorctl.c $(ENGINE_SRCS) $(ENGINE_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -Iengine \
	    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,relro -Wl,-z,now \
	    -o $@ $< $(ENGINE_SRCS) $(ENGINE_LIBS)

# the Debian package, as Debian packages its nginx modules (libnginx-mod-*):
# build/libnginx-mod-http-chatvisor_VERSION_ARCH.deb (docs/install.md)
deb: deps-deb all
	@scripts/build-deb.sh

# every test, and the nginx-facing ones again with the module under ASan
# (ASAN_TESTS), in one run, TEST_JOBS files at a time (scripts/run-tests;
# docs/decisions.md, "The test suite runs in parallel"); first everything
# they need is built, BUILD_JOBS compilers at a time: the module, its ASan
# build, the engine's unit tests and the fuzz harnesses side by side
BUILD_JOBS ?= 2
TEST_JOBS  ?= 4
TEST_FLAGS ?=

test: deps-test
	$(MAKE) -j$(BUILD_JOBS) test-build
	scripts/run-tests --jobs $(TEST_JOBS) --asan-module $(ASAN_MODULE) \
	    --asan '$(strip $(ASAN_TESTS))' $(TEST_FLAGS) t/
	$(MAKE) fuzz-replay

# The module under AddressSanitizer, in the stock nginx: libasan is preloaded
# into nginx, so a memory error stops a worker, and the harness's error log
# check (a worker that exited with a code) fails the test.
ASAN_MODULE := $(BUILD)/asan/ngx_chatvisor_module.so
ASAN_TESTS  ?= t/20-inject.t t/21-inject-gzip.t t/22-inject-length.t t/40-chat.t t/41-chat-hostile.t t/42-chat-durability.t t/43-store-indexes.t \
               t/44-retention.t t/45-erase.t t/46-store-growth.t t/47-store-disk-full.t \
               t/70-api.t t/71-api-errors.t t/80-visibility.t \
               t/90-webhooks-api.t t/91-webhooks-delivery.t t/92-webhooks-chaos.t \
               t/94-webhooks-transport.t t/48-chat-limits.t t/49-review-fixes.t \
                t/100-cobrowse-api.t t/101-cobrowse-hostile.t t/103-cobrowse-http2.t t/110-identify.t \
                t/66-prechat.t t/114-metrics.t \
                t/42-chat-power-loss.t \
                t/120-cluster-basic.t t/126-cluster-writes.t t/127-cluster-erase.t \
                t/133-cluster-retention.t t/134-cluster-upgrade.t

ifndef ASAN_INNER
$(ASAN_MODULE): $(MODULE_SRCS) $(ASSETS_C) $(DEFAULTS_H)
	@mkdir -p $(@D)
	$(MAKE) ASAN_INNER=1 NGX_BUILD=$(BUILD)/nginx-asan MODULE=$@ \
	    NGX_CC_OPT='-O1 -g -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unused-parameter' \
	    $@
endif

test-asan: deps-test all $(ASAN_MODULE)
	CHATVISOR_MODULE=$(CURDIR)/$(ASAN_MODULE) \
	LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
	    prove $(ASAN_TESTS)

# Fuzzing (docs/fuzzing.md): one libFuzzer harness per decoder that input
# reaches, fuzz/fuzz_NAME.c, built with Debian's clang under ASan and UBSan
# (the engine's files instrumented for coverage too). `make fuzz` runs each
# for FUZZ_SECONDS at nice 19, new inputs into build/fuzz/work/NAME, what
# crashes into build/fuzz/crashes/; `make fuzz-replay` (part of make test)
# runs each once over its corpus in the repo, fuzz/corpus/NAME.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_OBJS    := $(patsubst engine/%.c,$(BUILD)/fuzz/obj/%.o,$(ENGINE_SRCS))
FUZZ_CFLAGS  := -std=c11 -g -O1 -Wall -Wextra -Werror -Iengine \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_RUN     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(BUILD)/fuzz/obj/%.o: engine/%.c $(ENGINE_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) \
	    $(ENGINE_LIBS)

# the instrumented engine is kept between harness builds
.SECONDARY: $(FUZZ_OBJS)

fuzz-build: deps-test $(FUZZ_BINS)

# what make test runs (defined here, after the ASan module and fuzz names)
test-build: all engine-tests $(ASAN_MODULE) fuzz-build

fuzz-replay: deps-test $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	    $(FUZZ_RUN) $(BUILD)/fuzz/fuzz_$$n -runs=0 fuzz/corpus/$$n \
	        > $(BUILD)/fuzz/replay-$$n.log 2>&1 \
	    || { tail -40 $(BUILD)/fuzz/replay-$$n.log; \
	         echo "fuzz-replay: $$n failed"; exit 1; }; \
	    echo "fuzz-replay: $$n ok ($$(ls fuzz/corpus/$$n | wc -l) inputs)"; \
	done

fuzz: deps-test $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz/crashes $(BUILD)/fuzz/log; failed=; \
	for n in $(FUZZ_NAMES); do \
	    mkdir -p $(BUILD)/fuzz/work/$$n; \
	    dict=; test -f fuzz/$$n.dict && dict=-dict=fuzz/$$n.dict; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_RUN) nice -n 19 $(BUILD)/fuzz/fuzz_$$n $$dict \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/crashes/$$n- \
	        $(BUILD)/fuzz/work/$$n fuzz/corpus/$$n \
	        > $(BUILD)/fuzz/log/$$n.log 2>&1 \
	    || { tail -40 $(BUILD)/fuzz/log/$$n.log; failed="$$failed $$n"; }; \
	    grep -E '^#[0-9]+' $(BUILD)/fuzz/log/$$n.log | tail -1; \
	    grep -E 'number_of_executed_units' $(BUILD)/fuzz/log/$$n.log; \
	done; \
	test -z "$$failed" || { echo "fuzz: found something in:$$failed" \
	    "(inputs in $(BUILD)/fuzz/crashes/)"; exit 1; }

# line and branch coverage of each harness's decoder over its corpus
fuzz-coverage:
	fuzz/coverage.sh

demo: all
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

# not part of make test: each prints its tables; BENCH_UPDATE_DOCS=1 also
# rewrites its section of docs/performance.md
bench: deps-bench all
	bench/inject
	bench/chat
	bench/api
	bench/webhooks
	bench/cobrowse
	bench/assets
	bench/scale

clean:
	rm -rf $(BUILD)
