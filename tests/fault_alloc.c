/*
 * fault_alloc.c: a preloaded allocator that fails, as an exhausted machine would, every
 * allocation larger than $FAULT_ALLOC_OVER bytes, for testing how a program copes
 * with running out of memory.  Everything else goes to the C library's allocator.
 *
 *	LD_PRELOAD=build/tests/libfault_alloc.so FAULT_ALLOC_OVER=1048576 dbmd ...
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

void	*__libc_malloc(size_t);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);
void	*__libc_memalign(size_t, size_t);

static size_t limit = SIZE_MAX;

__attribute__((constructor)) static void
fault_alloc_init(void)
{
	const char *v = getenv("FAULT_ALLOC_OVER");

	if (v != NULL && *v != '\0')
		limit = (size_t)strtoull(v, NULL, 10);
}

static int
refused(size_t n)
{
	if (n <= limit)
		return 0;
	errno = ENOMEM;
	return 1;
}

void *
malloc(size_t n)
{
	return refused(n) ? NULL : __libc_malloc(n);
}

void *
calloc(size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return refused(nmemb * size) ? NULL : __libc_calloc(nmemb, size);
}

void *
realloc(void *p, size_t n)
{
	return refused(n) ? NULL : __libc_realloc(p, n);
}

int
posix_memalign(void **p, size_t align, size_t n)
{
	if (refused(n))
		return ENOMEM;
	*p = __libc_memalign(align, n);
	return *p == NULL ? ENOMEM : 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	return refused(n) ? NULL : __libc_memalign(align, n);
}
