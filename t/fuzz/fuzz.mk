# t/fuzz/fuzz.mk: builds the libFuzzer targets listed in t/fuzz/targets (run from the source
# root as `make -f t/fuzz/fuzz.mk B=objs-fuzz fuzz-build`; the top-level `make fuzz` does it).
#
# B is a build directory configured for fuzzing (clang, -fsanitize=fuzzer-no-link,address,
# undefined; see the top-level Makefile). Its generated Makefile is included for CC, CFLAGS,
# CPPFLAGS (every module's include directory), LIBS and the rule of $(B)/libportico.a.
#
# Each line of t/fuzz/targets is `NAME: FILE...` (paths from the source root; '#' starts a
# comment). The word `libportico` among the files links all of $(B)/libportico.a (whole: a
# module reached only through a weak symbol, as tls is from upstream, is in as in portico)
# and the libraries portico needs; list only the target's own sources then.
# Every target becomes $(B)/fuzz/fuzz_NAME, linked with -fsanitize=fuzzer.

B ?= objs-fuzz
FUZZ_LIST = t/fuzz/targets

include $(B)/Makefile

# "NAME: a.c b.c" -> NAME, then the files of one NAME (comments and blank lines skipped)
pco_hash := \#
comma := ,
FUZZ_NAMES := $(shell sed -e 's/$(pco_hash).*//' $(FUZZ_LIST) | awk -F: 'NF > 1 && $$1 ~ /^[A-Za-z0-9_]+$$/ { print $$1 }')
fuzz_files = $(shell sed -e 's/$(pco_hash).*//' $(FUZZ_LIST) | awk -F: '$$1 == "$(1)" { print $$2 }')

FUZZ_BINS = $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
# the fuzz harnesses and the code they compile directly depend on every header (coarse)
FUZZ_HDRS = $(wildcard core/*.h modules/*/*.h) $(B)/pco_auto_config.h

.PHONY: fuzz-build fuzz-names

fuzz-build: $(FUZZ_BINS)

fuzz-names:
	@echo $(FUZZ_NAMES)

# $(1) = NAME, $(2) = its files
define pco_fuzz_rule
$(B)/fuzz/fuzz_$(1): $(filter-out libportico,$(2)) $(if $(filter libportico,$(2)),$(B)/libportico.a) $(FUZZ_HDRS) $(FUZZ_LIST) t/fuzz/fuzz.mk
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -fsanitize=fuzzer $$(CPPFLAGS) -o $$@ $(filter-out libportico,$(2)) $(if $(filter libportico,$(2)),-Wl$$(comma)--whole-archive $(B)/libportico.a -Wl$$(comma)--no-whole-archive $$(LIBS)) $$(LDFLAGS)

endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call pco_fuzz_rule,$(n),$(call fuzz_files,$(n)))))
