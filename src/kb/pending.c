#include "kb/pending.h"

#include <stdint.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* Text blocks are at least this size; a longer string gets its own. */
#define BLOCK_MIN (64 * 1024)

#define SLOT_EMPTY (-1L)
#define SLOT_TOMBSTONE (-2L)  /* a rolled-back key: probing goes on */

struct st__pending_block {
  struct st__pending_block *next;
  size_t size, used;
  char data[];
};


static size_t field_count(enum st__pending_table table) {
  return table == ST__PENDING_ENTITY ? 4 : 6;
}


static int is_indexed(enum st__pending_table table) {
  return table != ST__PENDING_OBSERVATION;
}


void st__pending_init(struct st__pending *p) {
  memset(p, 0, sizeof(*p));
}


static void free_blocks_until(struct st__pending *p,
                              struct st__pending_block *keep) {
  while (p->blocks != NULL && p->blocks != keep) {
    struct st__pending_block *next = p->blocks->next;

    p->bytes -= sizeof(*p->blocks) + p->blocks->size;
    st_free(p->blocks);
    p->blocks = next;
  }
}


void st__pending_clear(struct st__pending *p) {
  free_blocks_until(p, NULL);
  st_free(p->rows);
  st_free(p->slots);
  st_free(p->marks);
  st__pending_init(p);
}


/* Copies s into the text blocks; NULL stays NULL. Returns 0 or
 * ST_ENOMEM. */
static int copy_text(struct st__pending *p, const char *s, const char **out) {
  struct st__pending_block *block = p->blocks;
  size_t len;

  *out = NULL;
  if (s == NULL)
    return 0;
  len = strlen(s) + 1;
  if (block == NULL || block->size - block->used < len) {
    size_t size = len > BLOCK_MIN ? len : BLOCK_MIN;

    block = st_malloc(sizeof(*block) + size);
    if (block == NULL)
      return ST_ENOMEM;
    block->size = size;
    block->used = 0;
    block->next = p->blocks;
    p->blocks = block;
    p->bytes += sizeof(*block) + size;
  }
  memcpy(block->data + block->used, s, len);
  *out = block->data + block->used;
  block->used += len;
  return 0;
}


static size_t hash_key(enum st__pending_table table, const char *id) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)table;

  for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
    h ^= *c;
    h *= 1099511628211ULL;
  }
  return (size_t)h;
}


/* Returns the slot of the last row of (table, id), or the first empty
 * slot of its probe sequence. The table has an empty slot. */
static size_t find_slot(const struct st__pending *p,
                        enum st__pending_table table, const char *id,
                        size_t hash) {
  size_t mask = p->slot_count - 1;
  size_t i = hash & mask;

  for (;;) {
    const struct st__pending_slot *slot = &p->slots[i];

    if (slot->row == SLOT_EMPTY)
      return i;
    if (slot->row >= 0 && slot->hash == (uint32_t)hash &&
        p->rows[slot->row].table == table &&
        strcmp(p->rows[slot->row].field[0], id) == 0)
      return i;
    i = (i + 1) & mask;
  }
}


/* Makes room for one more key, keeping the load at most 1/2, where
 * linear probing stays short for the misses that every new id costs.
 * Rebuilding drops the tombstones. Returns 0 or ST_ENOMEM. */
static int reserve_slot(struct st__pending *p) {
  size_t count = p->slot_count ? p->slot_count : 1024;
  struct st__pending_slot *old = p->slots;
  size_t old_count = p->slot_count;

  if (p->slot_count != 0 && (p->slots_used + 1) * 2 <= p->slot_count)
    return 0;
  while ((p->count + 1) * 4 > count)
    count *= 2;
  p->slots = st_malloc(count * sizeof(*p->slots));
  if (p->slots == NULL) {
    p->slots = old;
    return ST_ENOMEM;
  }
  for (size_t i = 0; i < count; i++)
    p->slots[i].row = SLOT_EMPTY;
  p->bytes += (count - old_count) * sizeof(*p->slots);
  p->slot_count = count;
  p->slots_used = 0;
  for (size_t i = 0; i < old_count; i++) {
    if (old[i].row < 0)
      continue;
    p->slots[find_slot(p, p->rows[old[i].row].table,
                       p->rows[old[i].row].field[0], old[i].hash)] = old[i];
    p->slots_used++;
  }
  st_free(old);
  return 0;
}


int st__pending_add(struct st__pending *p, enum st__pending_table table,
                    const char *const field[ST__PENDING_FIELDS]) {
  struct st__pending_row row;

  memset(&row, 0, sizeof(row));
  row.table = table;
  row.prev = -1;
  for (size_t i = 0; i < field_count(table); i++) {
    if (copy_text(p, field[i], &row.field[i]) != 0)
      return ST_ENOMEM;
  }
  if (p->count == p->capacity) {
    size_t capacity = p->capacity ? p->capacity * 2 : 1024;
    struct st__pending_row *rows = st_realloc(p->rows,
                                              capacity * sizeof(*rows));

    if (rows == NULL)
      return ST_ENOMEM;
    p->bytes += (capacity - p->capacity) * sizeof(*rows);
    p->rows = rows;
    p->capacity = capacity;
  }
  if (is_indexed(table)) {
    size_t hash = hash_key(table, row.field[0]), slot;

    if (reserve_slot(p) != 0)
      return ST_ENOMEM;
    slot = find_slot(p, table, row.field[0], hash);
    if (p->slots[slot].row == SLOT_EMPTY)
      p->slots_used++;
    else
      row.prev = p->slots[slot].row;
    p->slots[slot].row = (long)p->count;
    p->slots[slot].hash = (uint32_t)hash;
  }
  p->rows[p->count++] = row;
  return 0;
}


const struct st__pending_row *st__pending_find(
    const struct st__pending *p, enum st__pending_table table,
    const char *id) {
  long row;

  if (p->slot_count == 0)
    return NULL;
  row = p->slots[find_slot(p, table, id, hash_key(table, id))].row;
  return row >= 0 ? &p->rows[row] : NULL;
}


int st__pending_mark(struct st__pending *p) {
  struct st__pending_mark *mark;

  if (p->mark_count == p->mark_capacity) {
    size_t capacity = p->mark_capacity ? p->mark_capacity * 2 : 8;
    struct st__pending_mark *marks = st_realloc(p->marks,
                                                capacity * sizeof(*marks));

    if (marks == NULL)
      return ST_ENOMEM;
    p->marks = marks;
    p->mark_capacity = capacity;
  }
  mark = &p->marks[p->mark_count++];
  mark->count = p->count;
  mark->block = p->blocks;
  mark->block_used = p->blocks != NULL ? p->blocks->used : 0;
  return 0;
}


void st__pending_release(struct st__pending *p) {
  if (p->mark_count > 0)
    p->mark_count--;
}


void st__pending_rollback(struct st__pending *p) {
  struct st__pending_mark *mark;

  if (p->mark_count == 0)
    return;
  mark = &p->marks[--p->mark_count];

  /* Newest first, so each key's slot goes back to the row before. */
  while (p->count > mark->count) {
    long index = (long)--p->count;
    const struct st__pending_row *row = &p->rows[index];
    size_t mask = p->slot_count - 1, i;

    if (!is_indexed(row->table))
      continue;
    i = hash_key(row->table, row->field[0]) & mask;
    while (p->slots[i].row != index)
      i = (i + 1) & mask;
    p->slots[i].row = row->prev >= 0 ? row->prev : SLOT_TOMBSTONE;
  }
  free_blocks_until(p, mark->block);
  if (p->blocks != NULL)
    p->blocks->used = mark->block_used;
}
