#!/bin/bash
# Line coverage of each harness's decoder over its corpus (the repo's and
# what `make fuzz` found in build/fuzz/work/), with clang's source-based
# coverage: `make fuzz-coverage`. Prints one line per decoder function.
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang-14}
OUT=build/fuzz/cov
mkdir -p "$OUT"

# harness: its decoder functions
declare -A FUNCS=(
    [args]="cv_arg_u64 cv_arg_limit"
    [body]="cv_body_has_nul cv_body_json cv_unescape cv_body_form cv_field_unknown cv_field_string cv_field_flag cv_field_agent_id cv_field_message"
    [conv_record]="cv_conv_rec_decode"
    [cookie]="cv_signed_split cv_signed_matches cv_cookie_customer_valid cv_cookie_number cv_cookie_visits"
    [html_match]="cv_html_step cv_html_match_scan cv_html_match_spans"
    [log_entry]="cv_log_decode cv_log_token cv_log_entry_names"
    [tzif]="cv_tz_from_tzif cv_tz_parse cv_tz_parse_rule cv_tz_rule_date cv_tz_hms cv_tz_digits cv_tz_name_part cv_tz_offset cv_tz_rule_offset cv_tz_rule_local"
)

for n in $(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||'); do
    bin=$OUT/fuzz_$n
    $CC -std=c11 -g -O0 -Iengine -fprofile-instr-generate -fcoverage-mapping \
        -fsanitize=fuzzer -o "$bin" "fuzz/fuzz_$n.c" engine/*.c \
        -llmdb -lcjson -lcrypto -lm
    dirs=(fuzz/corpus/$n)
    [ -d build/fuzz/work/$n ] && dirs+=(build/fuzz/work/$n)
    LLVM_PROFILE_FILE=$OUT/$n.profraw "$bin" -runs=0 "${dirs[@]}" \
        > "$OUT/$n.log" 2>&1
    llvm-profdata-14 merge -sparse "$OUT/$n.profraw" -o "$OUT/$n.profdata"
    echo "== $n ($(find "${dirs[@]}" -type f | wc -l) inputs)"
    llvm-cov-14 report -show-functions "$bin" -instr-profile="$OUT/$n.profdata" \
        engine/*.c 2>/dev/null \
        | awk -v want=" ${FUNCS[$n]} " '
            { name = $1; sub(/^[^:]*:/, "", name) }
            index(want, " " name " ") {
                # Name Regions Miss Cover Lines Miss Cover Branches Miss Cover
                printf "  %-26s lines %6s  branches %6s\n", name, $7, $10
            }'
done
