# redtrack — PGXS build.
#
#   make && make install      build and install into the server pg_config names
#   make test                 install missing dependencies, build, run every suite
#   make installcheck         pg_regress suite against a temporary instance
#   make bench                benchmarks (bench/RESULTS.md)

MODULE_big = redtrack
EXTENSION = redtrack
DATA = $(wildcard extension/redtrack--*.sql)
PGFILEDESC = "redtrack - replicate PostgreSQL tables to Redshift through S3"

# worker/ may have one level of sub-folders (layers); every folder is on the
# include path, so a header is included by its name alone.
WORKER_DIRS = worker $(patsubst %/,%,$(sort $(dir $(wildcard worker/*/*.c worker/*/*.h))))
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c) $(foreach d,$(WORKER_DIRS),$(wildcard $(d)/*.c))))

PG_CONFIG ?= pg_config

PG_CPPFLAGS = -I$(srcdir)/extension $(foreach d,$(WORKER_DIRS),-I$(srcdir)/$(d)) -I$(shell $(PG_CONFIG) --includedir 2>/dev/null)
# libxml2 reads S3's responses (PostgreSQL links it too).
XML2_CFLAGS := $(shell xml2-config --cflags 2>/dev/null || echo -I/usr/include/libxml2)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -pthread $(XML2_CFLAGS)
SHLIB_LINK = -lcurl -lpq -lcrypto -lz -lzstd -lxml2 -pthread

# pg_regress: a temporary instance whose configuration preloads redtrack.
REGRESS = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-instance=$(REGRESS_OUTDIR)/tmp_instance \
	--temp-config=$(srcdir)/test/regress.conf \
	--inputdir=$(srcdir) --outputdir=$(REGRESS_OUTDIR)
REGRESS_OUTDIR ?= $(CURDIR)/build/regress

# No LLVM bitcode: it would need clang on every machine and gains nothing here.
override with_llvm = no

# Rebuild objects when a header they include changes.
override autodepend = yes

# pg_config comes with the dependencies, which these goals install first.
NO_PGXS_GOALS = test bench soak deps demo check-fresh check-redshift
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else ifneq ($(filter-out $(NO_PGXS_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error $(PG_CONFIG) not found: install the dependencies first with "make deps" (make demo and make test do it themselves), or set PG_CONFIG)
endif

.PHONY: test bench soak deps demo check-fresh check-redshift

test:
	bash scripts/test.sh

bench:
	bash bench/run.sh

soak:
	bash scripts/test.sh soak

deps:
	bash scripts/deps.sh

demo:
	bash scripts/demo.sh

# Slow (a Debian 12 chroot built from scratch; needs root and the Debian
# mirror): the README's make demo and make test on a minimal machine.
check-fresh:
	bash scripts/check-fresh.sh

# The Redshift conformance kit against a real cluster and bucket (settings
# in the environment: see the README, "Before production").
check-redshift:
	bash scripts/check-redshift.sh

# Formatting as pgindent does (GNU indent with pgindent's options and
# typedefs.list: scripts/indent.sh), only when asked and only what is named:
#   make indent FILES="worker/format/csv.c worker/format/csv.h"
# Without FILES: every C file under extension/ and worker/.
.PHONY: indent typedefs.list
indent:
	bash scripts/indent.sh $(or $(FILES),$(sort $(wildcard extension/*.[ch] worker/*.[ch] worker/*/*.[ch])))

typedefs.list:
	PG_CONFIG=$(PG_CONFIG) bash scripts/indent.sh --typedefs
