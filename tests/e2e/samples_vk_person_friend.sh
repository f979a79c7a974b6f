#!/usr/bin/env bash
# Runs every extractor in extractors/ over the real capture
# ../shared/samples/vk-person_friend.db (one vk.com profile page in
# windows-1251 and the calls it makes) and compares the knowledge base
# with vk-person_friend.kb.json, row by row and field by field.
BIN=$(realpath "${1:?usage: samples_vk_person_friend.sh BINARY}")
. "${ST_SOURCE_DIR:-.}/tests/fixtures/samples_env.sh"

compare_sample vk-person_friend <<'JSON'
[
 {"table": "entities", "id": "18231c324ffb9446a1e68c6d9e9570d8",
  "field": "data.domain", "expected": "sise_apubuzatuz",
  "reason": "the earlier implementation took the first \"domain\" in the page, which belongs to the first friend in the embedded friends.get reply; the extractor reads the profile's own users.get reply, and the friend list in vk-friends.db confirms the path /sise_apubuzatuz for user 9985478"},
 {"table": "entities", "id": "18231c324ffb9446a1e68c6d9e9570d8",
  "field": "data.url_picture",
  "expected": "https://sun6-21.userapi.com/s/v1/ig2/rGBJNkT2DI1Jzjxa21pctZ5ceaNPsm3JwloyO2YJiV9p3EmNBjD1Y6oP8sD32I3e0pcLAnC4qb12Jj18c8SRrlDj.jpg?size=200x200&quality=96&crop=18,13,2016,2016&ava=1",
  "reason": "the earlier implementation always stored null; the extractor stores the profile's photo_200, the same 200x200 picture URL that friend lists give as url_picture (vk-friends.db has this URL for user 9985478)"}
]
JSON
grep -q "extractor vk_profile (.*): 1 flows matched, 0 errors, 0 declined" \
  "$TMP/summary" || fail "vk_profile did not run on exactly the profile page"
finish
