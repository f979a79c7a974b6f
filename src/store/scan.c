/* The SQL of st_store_scan(): one statement per combination of filter
 * fields, and the reading of a row into a borrowed struct st_flow. */
#include "store/internal.h"

#include <stdio.h>
#include <string.h>

/* One bit per active filter field. Each combination gets its own cached
 * statement, so the query planner gets only the conditions in use. */
enum {
  FILTER_AFTER_ROWID = 1 << 0,
  FILTER_MAX_ROWID = 1 << 1,
  FILTER_SINCE = 1 << 2,
  FILTER_HOST = 1 << 3,
  FILTER_METHOD = 1 << 4,
  FILTER_URL_PREFIX = 1 << 5,
  FILTER_CONTENT_TYPE = 1 << 6,
  FILTER_LIMIT = 1 << 7,
};

/* Column order of every scan statement, which st__scan_read_row() reads
 * by position. */
static const char scan_columns_sql[] =
    "SELECT rowid, flow_id, flow_request_host, flow_request_port, "
    "flow_request_method, flow_request_pretty_url, flow_request_url, "
    "flow_request_http_version, flow_request_headers, "
    "flow_request_headers_content_type, flow_request_content, "
    "flow_request_timestamp_start, flow_response_status_code, "
    "flow_response_http_version, flow_response_headers, "
    "flow_response_headers_content_type, flow_response_content, "
    "flow_response_timestamp_start, flow_capture_timestamp FROM flows";

/* Builds the scan statement for one combination of filter fields. The
 * URL prefix is compared as bytes, and the content type as an ASCII
 * case-insensitive substring because media types are case-insensitive. */
void st__scan_build_sql(int mask, char *sql, size_t size) {
  static const struct {
    int bit;
    const char *condition;
  } conditions[] = {
    { FILTER_AFTER_ROWID, " AND rowid > ?1" },
    { FILTER_MAX_ROWID, " AND rowid <= ?2" },
    { FILTER_SINCE, " AND flow_capture_timestamp >= ?3" },
    { FILTER_HOST, " AND flow_request_host = ?4" },
    { FILTER_METHOD, " AND flow_request_method = ?5" },
    { FILTER_URL_PREFIX,
      " AND substr(CAST(flow_request_url AS BLOB), 1, length(?6)) = ?6" },
    { FILTER_CONTENT_TYPE,
      " AND instr(lower(flow_response_headers_content_type), lower(?7)) "
      "> 0" },
  };
  size_t n = (size_t)snprintf(sql, size, "%s WHERE 1", scan_columns_sql);

  for (size_t i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++) {
    if (mask & conditions[i].bit)
      n += (size_t)snprintf(sql + n, size - n, "%s", conditions[i].condition);
  }
  n += (size_t)snprintf(sql + n, size - n, " ORDER BY rowid");
  if (mask & FILTER_LIMIT)
    snprintf(sql + n, size - n, " LIMIT ?8");
}


int st__scan_mask(const struct st_store_filter *filter) {
  int mask = 0;

  if (filter->after_rowid != 0)
    mask |= FILTER_AFTER_ROWID;
  if (filter->max_rowid > 0)
    mask |= FILTER_MAX_ROWID;
  if (filter->since != NULL && *filter->since != '\0')
    mask |= FILTER_SINCE;
  if (filter->host != NULL)
    mask |= FILTER_HOST;
  if (filter->method != NULL)
    mask |= FILTER_METHOD;
  if (filter->url_prefix != NULL && *filter->url_prefix != '\0')
    mask |= FILTER_URL_PREFIX;
  if (filter->content_type != NULL && *filter->content_type != '\0')
    mask |= FILTER_CONTENT_TYPE;
  if (filter->limit > 0)
    mask |= FILTER_LIMIT;
  return mask;
}


int st__scan_bind(sqlite3_stmt *stmt, int mask,
                  const struct st_store_filter *filter) {
  int rc = SQLITE_OK;

  if (mask & FILTER_AFTER_ROWID)
    rc = sqlite3_bind_int64(stmt, 1, filter->after_rowid);
  if (rc == SQLITE_OK && (mask & FILTER_MAX_ROWID))
    rc = sqlite3_bind_int64(stmt, 2, filter->max_rowid);
  if (rc == SQLITE_OK && (mask & FILTER_SINCE))
    rc = sqlite3_bind_text(stmt, 3, filter->since, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK && (mask & FILTER_HOST))
    rc = sqlite3_bind_text(stmt, 4, filter->host, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK && (mask & FILTER_METHOD))
    rc = sqlite3_bind_text(stmt, 5, filter->method, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK && (mask & FILTER_URL_PREFIX))
    rc = sqlite3_bind_blob(stmt, 6, filter->url_prefix,
                           (int)strlen(filter->url_prefix), SQLITE_STATIC);
  if (rc == SQLITE_OK && (mask & FILTER_CONTENT_TYPE))
    rc = sqlite3_bind_text(stmt, 7, filter->content_type, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK && (mask & FILTER_LIMIT))
    rc = sqlite3_bind_int64(stmt, 8, filter->limit);
  return rc;
}


/* Copies a text column into a fixed array, truncating to fit. */
void st__scan_copy_column(char *dst, size_t size, sqlite3_stmt *stmt, int col) {
  const unsigned char *text = sqlite3_column_text(stmt, col);
  size_t len = text != NULL ? (size_t)sqlite3_column_bytes(stmt, col) : 0;

  if (len > size - 1)
    len = size - 1;
  if (len > 0)
    memcpy(dst, text, len);
  dst[len] = '\0';
}


/* The const cast is the borrow: the pointers reach into SQLite's row
 * buffers, valid until the next step, and callbacks must not write
 * through them. */
static char *text_column(sqlite3_stmt *stmt, int col) {
  return (char *)sqlite3_column_text(stmt, col);
}


static void blob_column(sqlite3_stmt *stmt, int col, char **data, size_t *len) {
  *data = (char *)sqlite3_column_blob(stmt, col);
  *len = *data != NULL ? (size_t)sqlite3_column_bytes(stmt, col) : 0;
}


/* Fills flow from the current row, borrowing every pointer from the
 * statement: a scan allocates nothing per row. */
void st__scan_read_row(sqlite3_stmt *stmt, struct st_flow *flow) {
  memset(flow, 0, sizeof(*flow));
  flow->rowid = sqlite3_column_int64(stmt, 0);
  st__scan_copy_column(flow->id, sizeof(flow->id), stmt, 1);
  flow->host = text_column(stmt, 2);
  flow->port = sqlite3_column_int(stmt, 3);
  flow->method = text_column(stmt, 4);
  flow->pretty_url = text_column(stmt, 5);
  flow->url = text_column(stmt, 6);
  flow->http_version = text_column(stmt, 7);
  flow->req_headers = text_column(stmt, 8);
  flow->req_content_type = text_column(stmt, 9);
  blob_column(stmt, 10, &flow->req_body, &flow->req_body_len);
  st__scan_copy_column(flow->req_ts, sizeof(flow->req_ts), stmt, 11);
  flow->status = sqlite3_column_int(stmt, 12);
  flow->resp_http_version = text_column(stmt, 13);
  flow->resp_headers = text_column(stmt, 14);
  flow->resp_content_type = text_column(stmt, 15);
  blob_column(stmt, 16, &flow->resp_body, &flow->resp_body_len);
  st__scan_copy_column(flow->resp_ts, sizeof(flow->resp_ts), stmt, 17);
  st__scan_copy_column(flow->capture_ts, sizeof(flow->capture_ts), stmt, 18);
}
