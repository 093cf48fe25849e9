#!/usr/bin/env bash
# Creates or updates the single Terraform plan comment on a pull request. The comment is found by the
# hidden marker on its first line, and only among comments written by the workflow's own bot account,
# so a pasted copy of the marker in a human comment is never touched.
#
#   upsert-pr-comment.sh BODY_FILE
#
# The marker is the body's first line, an HTML comment (scripts/pr-comment.ts writes it), so it is
# defined in one place only.
#
# Environment: GH_TOKEN (the job's GITHUB_TOKEN, pull-requests: write), GITHUB_REPOSITORY, PR_NUMBER;
# optional BOT_LOGIN (default github-actions[bot]). Needs gh and jq (both on GitHub runners).
set -euo pipefail

body_file="${1:?usage: upsert-pr-comment.sh BODY_FILE}"
: "${GITHUB_REPOSITORY:?}" "${PR_NUMBER:?}"
bot_login="${BOT_LOGIN:-github-actions[bot]}"

if ! [[ "$PR_NUMBER" =~ ^[0-9]+$ ]]; then
  echo "PR_NUMBER must be a pull request number, got '$PR_NUMBER'" >&2
  exit 64
fi
if [ ! -s "$body_file" ]; then
  echo "comment body $body_file is missing or empty" >&2
  exit 66
fi
marker="$(head -n 1 "$body_file")"
if ! [[ "$marker" =~ ^\<!--\ [^\>]+\ --\>$ ]]; then
  echo "the comment body must start with a hidden marker line (<!-- ... -->), got: $marker" >&2
  exit 65
fi

payload="$(mktemp)"
trap 'rm -f "$payload"' EXIT
jq -n --rawfile body "$body_file" '{body: $body}' >"$payload"

# --paginate prints one JSON array per page; -s joins them.
existing="$(
  gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" |
    jq -rs --arg marker "$marker" --arg bot "$bot_login" \
      '[.[][] | select(.user.login == $bot and (.body | startswith($marker)))] | first | .id // empty'
)"

if [ -n "$existing" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" --input "$payload" --jq '.html_url'
  echo "updated plan comment $existing"
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --input "$payload" --jq '.html_url'
  echo "created plan comment"
fi
