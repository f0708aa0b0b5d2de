# ferry — build, run, test, bench.
#
#   make          build the four stages, the ferry client and the unit tests into build/
#   make run      install what is missing, build, start Kafka and all stages
#   make test     the same set-up, then unit and integration tests
#   make asan     the whole test suite under ASan + UBSan (build-asan/)
#   make bench    benchmarks that print figures (make bench NAME...: only those)
#   make fuzz     the selector compiler, the HTML parser and the HTTP request reader under libFuzzer
#                 (clang), FUZZ_SECONDS long each
#   make chaos    every fault case ten times against the whole system, on one
#                 broker and on a three-broker cluster; a table of runs; then
#                 the long forms of the integration tests marked `long`
#   make fmt      format the C sources; make lint checks format and warnings

B        ?= build
STAGES   := ingest scrape aggregate deliver render
PKGS     := rdkafka jansson libcurl libxml-2.0 libcrypto zlib
VERSION  := 0.1.0

CC       ?= cc
CFLAGS   ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers -Wno-format-zero-length \
            -pthread -MMD -MP -DFERRY_VERSION='"$(VERSION)"' -Ishared \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(B)/%.o)
# Built-in profiles and rules, compiled into every binary (shared/embedded.h).
EMBED_SRC  := $(sort $(wildcard shared/profiles/*.json))
EMBED_OBJ  := $(B)/gen/embedded.o
LIB        := $(B)/libferry.a
BINS       := $(STAGES:%=$(B)/ferry-%)
CLI        := $(B)/ferry
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Helpers every unit test may use (a local HTTP server, ...): the other .c files there.
UNIT_HELP  := $(patsubst %.c,$(B)/%.o,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOLS      := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

.PHONY: all deps run test unit integration asan bench fuzz chaos fmt lint clean
all: $(BINS) $(CLI) $(UNITS) $(TOOLS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(STAGE_INC) -c -o $@ $<

$(B)/gen/embedded.c: $(EMBED_SRC) shared/profiles/embed.sh
	@mkdir -p $(@D)
	@echo "  EMBED   $(words $(EMBED_SRC)) files"
	@shared/profiles/embed.sh $(EMBED_SRC) > $@.tmp && mv $@.tmp $@

$(EMBED_OBJ): $(B)/gen/embedded.c
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Archives are made anew, so a module that was removed leaves no object behind.
$(LIB): $(SHARED_OBJ) $(EMBED_OBJ)
	@rm -f $@ && $(AR) rcs $@ $^

# Each stage is its main.o plus its modules (every other .c file in its
# folder) as a library, build/libferry-<stage>.a, linked with the shared
# library. Unit tests of the stage's modules link the same library.
define stage_rule
$(B)/libferry-$(1).a: $(patsubst %.c,$(B)/%.o,$(filter-out stages/$(1)/main.c,$(wildcard stages/$(1)/*.c)))
	@rm -f $$@ && $$(AR) rcs $$@ $$^
$(B)/ferry-$(1): $(B)/stages/$(1)/main.o $(B)/libferry-$(1).a $(LIB)
	@echo "  LINK    $$@"
	@$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LDLIBS)
$(B)/tests/unit/test_$(1)_%.o: STAGE_INC := -Istages/$(1)
endef
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

# The client program (stages/cli): not a stage, it only speaks the HTTP API.
$(CLI): $(patsubst %.c,$(B)/%.o,$(wildcard stages/cli/*.c)) $(LIB)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

# A unit test named test_<stage>_* tests that stage's modules: it links the
# stage's library and sees the stage's headers. Any other links the shared
# library only. Every unit test may use the helpers in tests/unit (UNIT_HELP).
unit_stage = $(filter $(word 2,$(subst _, ,$(1))),$(STAGES))
define unit_rule
$(B)/tests/$(1): $(B)/tests/unit/$(1).o $(if $(call unit_stage,$(1)),$(B)/libferry-$(call unit_stage,$(1)).a) $(UNIT_HELP) $(LIB)
	@mkdir -p $$(@D)
	@echo "  LINK    $$@"
	@$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LDLIBS) -lcmocka
endef
$(foreach t,$(UNITS:$(B)/tests/%=%),$(eval $(call unit_rule,$(t))))

$(B)/tools/%: $(B)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

# A tool named <stage>_*_bench measures a stage's modules: it links that
# stage's library before the shared one (as its unit tests do).
define tool_stage_rule
$(B)/tools/$(1)_%_bench: $(B)/tests/tools/$(1)_%_bench.o $(B)/libferry-$(1).a $(LIB)
	@mkdir -p $$(@D)
	@echo "  LINK    $$@"
	@$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LDLIBS)
$(B)/tests/tools/$(1)_%_bench.o: STAGE_INC := -Istages/$(1)
endef
$(foreach s,$(STAGES),$(eval $(call tool_stage_rule,$(s))))

deps:
	@compose/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@compose/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/run.sh

unit: all
	@B=$(B) tests/run.sh --unit-only

asan: deps
	@$(MAKE) --no-print-directory all B=build-asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)"
	@B=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

# `make bench e2e scrape` runs only the named benchmarks (tests/bench/bench_<name>.sh).
BENCH_NAMES := $(if $(filter bench,$(MAKECMDGOALS)),$(filter-out bench,$(MAKECMDGOALS)))
bench: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/bench/run.sh $(BENCH_NAMES)
ifneq ($(BENCH_NAMES),)
$(BENCH_NAMES):
	@:
endif

# libFuzzer needs clang; the seeds are read-only, new inputs go to build/.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Ishared -fsanitize=fuzzer,address,undefined
fuzz: deps
	@mkdir -p $(B)/fuzz/corpus-sel
	clang $(FUZZ_FLAGS) $(shell pkg-config --cflags libxml-2.0) -o $(B)/fuzz/fuzz_sel \
	    tests/fuzz/fuzz_sel.c shared/sel.c shared/sel_css.c shared/sel_lex.c shared/sel_xpath.c shared/sel_match.c shared/buf.c \
	    shared/hparse.c shared/hparse_tree.c shared/hparse_text.c shared/hparse_tags.c $(shell pkg-config --libs libxml-2.0)
	$(B)/fuzz/fuzz_sel -max_total_time=$(FUZZ_SECONDS) -max_len=600 -timeout=5 \
	    $(B)/fuzz/corpus-sel tests/fuzz/corpus/sel
	@mkdir -p $(B)/fuzz/corpus-hparse
	clang $(FUZZ_FLAGS) -Itests/unit $(shell pkg-config --cflags libxml-2.0) -o $(B)/fuzz/fuzz_hparse \
	    tests/fuzz/fuzz_hparse.c tests/unit/hparse_diff.c shared/hparse.c shared/hparse_tree.c \
	    shared/hparse_text.c shared/hparse_tags.c $(shell pkg-config --libs libxml-2.0)
	$(B)/fuzz/fuzz_hparse -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=5 \
	    $(B)/fuzz/corpus-hparse tests/fuzz/corpus/hparse
	@mkdir -p $(B)/fuzz/corpus-httpd
	clang $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_httpd tests/fuzz/fuzz_httpd.c shared/httpd_parse.c \
	    shared/buf.c
	$(B)/fuzz/fuzz_httpd -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -timeout=5 \
	    $(B)/fuzz/corpus-httpd tests/fuzz/corpus/httpd

# Long (an hour or more) and bounded: FERRY_CHAOS_RUNS runs per case (10),
# each at most 300 s. Brokers on FERRY_LOCAL_KAFKA_PORT (default 29592) and,
# for the cluster, that port + 2 to + 7. Both tables end up in $(B)/. Then
# the long forms of the integration tests marked `long` (make test runs
# their short forms), against a broker of their own on that port.
chaos: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) python3 tests/chaos/run.py --table $(B)/chaos-single.md; one=$$?; \
	  B=$(B) python3 tests/chaos/run.py --cluster --table $(B)/chaos-cluster.md \
	    --kafka-port $$(( $${FERRY_LOCAL_KAFKA_PORT:-29592} + 2 )); three=$$?; \
	  B=$(B) FERRY_TEST_LONG=1 FERRY_LOCAL_KAFKA_PORT=$${FERRY_LOCAL_KAFKA_PORT:-29592} \
	    tests/run.sh --integration-only -m long; long=$$?; \
	  exit $$(( one || three || long ))

FMT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_SRC)
lint:
	clang-format --dry-run -Werror $(FMT_SRC)
	@$(MAKE) --no-print-directory all

clean:
	rm -rf build build-asan

-include $(shell find $(B) -name '*.d' 2>/dev/null)
