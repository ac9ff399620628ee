#!/usr/bin/env bash
# Runs the C accelerator's tests and the injection reference test against an ASan + UBSan build of
# src/bastion/_native*.c, then restores the normal build. Any out-of-bounds access or undefined
# behaviour aborts the run with the sanitizer's report. Usage: bash scripts/check_native_asan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
so=$($py -c "import sysconfig; print('src/bastion/_native' + sysconfig.get_config_var('EXT_SUFFIX'))")
inc=$($py -c "import sysconfig; print(sysconfig.get_paths()['include'])")
trap '.venv/bin/pip install -q -e . >/dev/null 2>&1' EXIT  # the normal build back, whatever happens
gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -ffp-contract=off -fPIC -shared -I"$inc" src/bastion/_native*.c -lm -o "$so"
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# the sanitized build must load: a missing source file would leave symbols undefined and the tests would skip
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 PYTHONPATH=src $py -c "import bastion._native" \
    || { echo "the sanitized build of bastion._native does not import" >&2; exit 1; }
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
    $py -m pytest -q -p no:cacheprovider -p no:capture \
    tests/unit/policy/test_injection_native.py tests/unit/policy/test_injection_reference.py \
    tests/unit/policy/test_secrets_native.py tests/unit/policy/test_pii_native.py tests/unit/policy/test_scan_fastpaths.py \
    tests/unit/providers/test_sse_properties.py tests/unit/providers/test_stream_frames.py \
    tests/unit/audit/test_audit_body_native.py tests/unit/audit/test_audit_record_native.py \
    tests/unit/audit/test_audit_link_native.py \
    tests/unit/policy/test_injection_native_passes.py tests/unit/limits/test_limits_bucket_native.py \
    tests/unit/policy/test_cache.py tests/unit/test_core_makers.py tests/unit/providers/openai/test_openai_codec_fast.py \
    tests/unit/observability/test_access_line_native.py tests/unit/observability/test_observe_native.py \
    tests/unit/policy/test_injection_heads.py tests/unit/http/test_native_http.py \
    tests/unit/policy/test_window_native.py tests/unit/policy/test_window_early.py \
    tests/unit/limits/test_limits_fast_path.py tests/unit/limits/test_limits_memory_budgets.py \
    tests/unit/limits/test_limits_estimate.py tests/unit/limits/test_limits_stage.py \
    tests/unit/cost/test_paired_stages.py tests/unit/cost/test_cost_stage.py \
    tests/unit/policy/test_injection_speedpaths_scan.py tests/unit/policy/test_injection_speedpaths_gates.py \
    tests/unit/providers/openai/test_response_native.py tests/unit/providers/openai/test_request_native.py \
    tests/unit/policy/test_injection_native_anchored.py tests/unit/policy/test_injection_simd.py \
    tests/unit/providers/test_circuit_native.py tests/unit/policy/test_injection_native_holds.py \
    tests/unit/providers/openai/test_chunk_frames_native.py tests/unit/providers/test_text_native.py \
    tests/unit/cost/test_settle_native.py tests/unit/providers/openai/test_opening_native.py \
    tests/unit/providers/anthropic/test_delta_usage_native.py tests/unit/providers/anthropic/test_start_native.py \
    tests/unit/policy/test_injection_fused.py tests/unit/policy/test_injection_encodings.py
