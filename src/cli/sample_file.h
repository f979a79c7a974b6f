/* Sample files: new SQLite files holding some flows of a probe.db, with
 * the same flows table (its CREATE TABLE statement is copied from the
 * source) and the entities and relationships tables with their NIL rows,
 * as the earlier tool's files have them. Extractors, the REPL and any
 * SQLite tool read them like probe.db.
 *
 * The file is written under a temporary name beside the target and takes
 * the target's name only when closed with keep set, so an interrupted
 * run leaves no half-written sample. The source is attached read-only and
 * may be written by a recorder in another process meanwhile. Main thread
 * of `stratosphere capture` and `sample` only. */
#ifndef ST_SAMPLE_FILE_H
#define ST_SAMPLE_FILE_H

#include <stddef.h>
#include <stdint.h>

struct st_sample_file;

/* Which flows st_sample_file_copy() takes; NULL fields match all. */
struct st_sample_filter {
  int64_t after_rowid;        /* -1: any; else rowid > after_rowid or
                               * captured at or after captured_from */
  const char *captured_from;  /* timestamp text; used with after_rowid */
  const char *since;          /* capture timestamp text, inclusive */
  const char *host;           /* exact host */
  const char *url_prefix;     /* prefix of the request URL */
};

/* Creates the sample for out_path from the flows file src_path. Returns
 * ST_EINVAL when out_path exists and force is 0, ST_ENOTFOUND when
 * src_path is missing, ST_EDB on SQLite errors, each with err naming the
 * file and what to do. The caller closes *out with st_sample_file_close().
 */
int st_sample_file_open(struct st_sample_file **out, const char *out_path,
                        const char *src_path, int force, char *err,
                        size_t errlen);

/* Copies the matching flows not yet in the sample, in the source's rowid
 * order, in one transaction. Sets *copied to the number added and
 * *max_rowid to the source's largest rowid in the same snapshot. */
int st_sample_file_copy(struct st_sample_file *s,
                        const struct st_sample_filter *filter,
                        int64_t *copied, int64_t *max_rowid, char *err,
                        size_t errlen);

/* Sets *count to the number of flows in the sample. */
int st_sample_file_count(struct st_sample_file *s, int64_t *count,
                         char *err, size_t errlen);

/* Closes the sample. With keep, renames it to its target name (never
 * replacing an existing file unless opened with force) and returns 0 or
 * ST_EIO; without keep, deletes it. Sets *s to NULL; accepts NULL. */
int st_sample_file_close(struct st_sample_file **s, int keep, char *err,
                         size_t errlen);

#endif
