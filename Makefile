# ferry — build, run, test, bench.
#
#   make          build the four stages and the unit tests into build/
#   make run      install what is missing, build, start Kafka and all stages
#   make test     the same set-up, then unit and integration tests
#   make asan     the whole test suite under ASan + UBSan (build-asan/)
#   make bench    benchmarks that print figures
#   make fmt      format the C sources; make lint checks format and warnings

B        ?= build
STAGES   := ingest scrape aggregate deliver
PKGS     := rdkafka jansson libulfius libcurl libxml-2.0 libcrypto zlib
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
LIB        := $(B)/libferry.a
BINS       := $(STAGES:%=$(B)/ferry-%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOLS      := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

.PHONY: all deps run test unit integration asan bench fmt lint clean
all: $(BINS) $(UNITS) $(TOOLS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(SHARED_OBJ)
	@$(AR) rcs $@ $^

# Each stage is every .c file in its folder, linked with the shared library.
define stage_rule
$(B)/ferry-$(1): $(patsubst %.c,$(B)/%.o,$(wildcard stages/$(1)/*.c)) $(LIB)
	@echo "  LINK    $$@"
	@$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LDLIBS)
endef
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

$(B)/tests/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS) -lcmocka

$(B)/tools/%: $(B)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

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

bench: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/bench/run.sh

FMT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_SRC)
lint:
	clang-format --dry-run -Werror $(FMT_SRC)
	@$(MAKE) --no-print-directory all

clean:
	rm -rf build build-asan

-include $(shell find $(B) -name '*.d' 2>/dev/null)
