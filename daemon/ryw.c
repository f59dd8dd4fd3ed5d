/* ryw.c: what each client last wrote, for read roles that read their clients' writes. */

#include <stdlib.h>
#include <string.h>

#include "dbmd.h"

/*
 * A client here is a process: the uid and pid its sockets' peer credentials give, so
 * that a program's handles on the primary and on a read role, on one connection to
 * dbmd or several, native or PostgreSQL protocol, are one client.  For each client
 * and environment dbmd keeps the primary's WAL position after the client's latest
 * committed write (request.commit_lsn); its reads on a read_your_writes role run
 * where that position has been replayed (request.min_lsn).  A position nobody used
 * for RYW_KEEP_MS is forgotten; a later process reusing a pid inherits an old
 * position, which every standby has long replayed.
 */

#define RYW_BUCKETS	4096
#define RYW_MAX		65536		/* entries; the least recently used goes */
#define RYW_KEEP_MS	(10 * 60 * 1000)

struct ryw_entry {
	struct ryw_entry	*next;
	uid_t			 uid;
	pid_t			 pid;
	uint64_t		 lsn;
	int64_t			 used;		/* ms */
	char			 env[DBMD_NAME_MAX + 1];
};

static struct ryw_entry *ryw_table[RYW_BUCKETS];
static size_t ryw_count;

static struct ryw_entry **
ryw_bucket(uid_t uid, pid_t pid, const char *env)
{
	char key[DBMD_NAME_MAX + 32];
	int n = snprintf(key, sizeof(key), "%lu/%ld/%s", (unsigned long)uid, (long)pid, env);

	return &ryw_table[hash64(key, (size_t)n) % RYW_BUCKETS];
}

static struct ryw_entry *
ryw_find(uid_t uid, pid_t pid, const char *env)
{
	struct ryw_entry *e;

	for (e = *ryw_bucket(uid, pid, env); e != NULL; e = e->next)
		if (e->uid == uid && e->pid == pid && strcmp(e->env, env) == 0)
			return e;
	return NULL;
}

/* Removes the entries matching: unused since before, or (oldest) the least recent. */
static void
ryw_remove(int64_t before, bool oldest)
{
	struct ryw_entry **pp, *e, **victim = NULL;
	size_t i;

	for (i = 0; i < RYW_BUCKETS; i++)
		for (pp = &ryw_table[i]; (e = *pp) != NULL;) {
			if (!oldest && e->used < before) {
				*pp = e->next;
				free(e);
				ryw_count--;
				continue;
			}
			if (oldest && (victim == NULL || e->used < (*victim)->used))
				victim = pp;
			pp = &e->next;
		}
	if (victim != NULL) {
		e = *victim;
		*victim = e->next;
		free(e);
		ryw_count--;
	}
}

/* The client committed a write in env; the primary was at lsn after it. */
void
ryw_note(uid_t uid, pid_t pid, const char *env, uint64_t lsn)
{
	struct ryw_entry *e, **b;

	if ((e = ryw_find(uid, pid, env)) == NULL) {
		if (strlen(env) > DBMD_NAME_MAX)
			return;
		if (ryw_count >= RYW_MAX)
			ryw_remove(0, true);
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return;		/* its reads may be stale: they are not refused */
		e->uid = uid;
		e->pid = pid;
		snprintf(e->env, sizeof(e->env), "%s", env);
		b = ryw_bucket(uid, pid, env);
		e->next = *b;
		*b = e;
		ryw_count++;
	}
	if (lsn > e->lsn)
		e->lsn = lsn;
	e->used = now_ms();
}

/* Where the client's reads in env must have been replayed; 0: anywhere. */
uint64_t
ryw_lsn(uid_t uid, pid_t pid, const char *env)
{
	struct ryw_entry *e = ryw_find(uid, pid, env);

	if (e == NULL)
		return 0;
	e->used = now_ms();
	return e->lsn;
}

/* The janitor's: positions nobody used for a while go. */
void
ryw_expire(int64_t now)
{
	if (ryw_count > 0)
		ryw_remove(now - RYW_KEEP_MS, false);
}

/* Everything goes (at exit). */
void
ryw_clear(void)
{
	ryw_remove(INT64_MAX, false);
}
