/* Rows written to kb.db inside a transaction and not yet handed to
 * SQLite: an append-only log with an index by id and nested savepoint
 * marks. kb.c keeps a transaction's writes here, so that a savepoint costs
 * no SQLite savepoint (whose statement journal copied every page it
 * changed), and writes the log out in one pass. Used by one thread at a
 * time, like the struct st_kb that owns it. */
#ifndef ST_KB_PENDING_H
#define ST_KB_PENDING_H

#include <stddef.h>
#include <stdint.h>

enum st__pending_table {
  ST__PENDING_ENTITY,
  ST__PENDING_RELATIONSHIP,
  ST__PENDING_OBSERVATION,
};

/* Fields of a row, in this order, NULL for SQL NULL:
 *   entity:       id, type, data, ts
 *   relationship: id, type, src, dst, data, ts
 *   observation:  object_id, kind, flow_id, extractor, extractor_version,
 *                 ts */
#define ST__PENDING_FIELDS 6

struct st__pending_row {
  enum st__pending_table table;
  const char *field[ST__PENDING_FIELDS];
  long prev;  /* entities and relationships: the row before this one
               * with the same table and id, or -1 */
};

struct st__pending_block;

/* A slot of the index: a row, EMPTY or a tombstone, and the row's key
 * hash, which spares most key comparisons. */
struct st__pending_slot {
  long row;
  uint32_t hash;
};

struct st__pending_mark {
  size_t count;                     /* rows before the savepoint */
  struct st__pending_block *block;  /* text storage at that point */
  size_t block_used;
};

struct st__pending {
  struct st__pending_row *rows;
  size_t count, capacity;
  struct st__pending_slot *slots;  /* open addressing by (table, id) */
  size_t slot_count;      /* a power of two, 0 before the first row */
  size_t slots_used;      /* slots that are not EMPTY */
  struct st__pending_block *blocks;  /* text storage, newest first */
  size_t bytes;           /* memory held by rows and text */
  struct st__pending_mark *marks;
  size_t mark_count, mark_capacity;
};

void st__pending_init(struct st__pending *p);

/* Drops every row and mark and frees all memory. */
void st__pending_clear(struct st__pending *p);

/* Appends a row, copying its strings. Returns 0 or ST_ENOMEM (then
 * nothing was added). */
int st__pending_add(struct st__pending *p, enum st__pending_table table,
                    const char *const field[ST__PENDING_FIELDS]);

/* Returns the last row of an entity or relationship with id, or NULL. */
const struct st__pending_row *st__pending_find(
    const struct st__pending *p, enum st__pending_table table,
    const char *id);

/* Opens a savepoint mark. Returns 0 or ST_ENOMEM. */
int st__pending_mark(struct st__pending *p);

/* Closes the innermost mark, keeping its rows. */
void st__pending_release(struct st__pending *p);

/* Drops the rows added since the innermost mark and closes it. */
void st__pending_rollback(struct st__pending *p);

#endif
