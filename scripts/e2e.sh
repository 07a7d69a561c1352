#!/usr/bin/env bash
# End-to-end check of the main job on real services (called by scripts/test.sh, which starts
# SeaweedFS and exports its AWS_* variables): acquire to S3 + PostgreSQL, read back with query,
# numpy and sigmf_validate, then reindex into an empty database and compare.
set -euo pipefail
echo "e2e: not written yet" >&2
