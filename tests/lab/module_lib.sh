# Shared by the protocol module scenarios (test_module_*.sh): the example module
# (examples/module/tcm_token.c, built as $TC_BIN/tcm_token.so) rewrites "tok" in every line the
# client sends to the longer "token-rewritten". Sourced after lib.sh.

MOD="$TC_BIN/tcm_token.so"

# module_lab: the lab, a recorder on online :80 (ON) and on the target :8080 (TG), intercept.
module_lab() {
    [ -f "$MOD" ] || fail "$MOD not built"
    lab_up
    start_recorder "$NS_ONL" 0.0.0.0 80 online-mod
    ON=$REC_DIR
    start_recorder "$NS_TGT" 0.0.0.0 8080 target-mod
    TG=$REC_DIR
    start_intercept
}

# module_tcpcopy [ARGS]: tcpcopy toward the target's recorder, with ARGS (e.g. --module "$MOD").
module_tcpcopy() {
    start_tcpcopy -x 80-192.0.2.20:8080 -s 192.0.2.30 -c 203.0.113.x "$@"
}

# module_unrewritten LOG: requests whose URI still starts with /tok/.
module_unrewritten() {
    awk '$4 ~ /^\/tok\// { n++ } END { print n + 0 }' "$1"
}
