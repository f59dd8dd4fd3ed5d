/* fuzz.h: what the libFuzzer targets share (common.c), and the entry point they define. */

#ifndef DBMD_FUZZ_H
#define DBMD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct config;

/* libFuzzer calls this once per input; every target defines it. */
int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Stops the run at once: the input broke an invariant the target checks. */
#define FUZZ_ASSERT(cond)	((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))
void		 fuzz_fail(const char *, const char *, int) __attribute__((noreturn));

char		*fuzz_strndup(const uint8_t *, size_t);	/* the input as a C string */
const char	*fuzz_tmpdir(void);	/* a private directory, removed at exit */
void		 fuzz_config_walk(const struct config *);	/* uses all of a loaded config */

#endif /* DBMD_FUZZ_H */
