#!/usr/bin/env bash
# Runs every extractor in extractors/ over the real capture
# ../shared/samples/search-google.db (typing a query on google.com, one
# results page, autocomplete, telemetry) and compares the knowledge base
# with search-google.kb.json, row by row and field by field.
BIN=$(realpath "${1:?usage: samples_search_google.sh BINARY}")
. "${ST_SOURCE_DIR:-.}/tests/fixtures/samples_env.sh"

# No expected differences. The page repeats one URL,
# https://en.wikipedia.org/wiki/Bellingcat, first as "3 more rows" and then
# with its title. The extractor prefers a title wherever it appears and the
# earlier implementation kept the last text, so both store
# "Bellingcat - Wikipedia".
compare_sample search-google <<'JSON'
[]
JSON
grep -q "extractor google_search (.*): 1 flows matched, 0 errors, 0 declined" \
  "$TMP/summary" || fail "google_search did not run on exactly the results page"
finish
