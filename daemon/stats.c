/* stats.c: latency histograms of the pools' statistics. */

#include "dbmd.h"

/* Bucket upper bounds in microseconds: 0.5 ms to 30 s; the last bucket is unbounded. */
const int64_t hist_bounds_us[HIST_BUCKETS] = {
	500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 30000000
};

void
hist_add(struct hist *h, int64_t us)
{
	int i;

	if (us < 0)
		us = 0;
	for (i = 0; i < HIST_BUCKETS && us > hist_bounds_us[i]; i++)
		;
	h->count[i]++;
	h->n++;
	h->sum_us += (uint64_t)us;
}
