#!/usr/bin/env bash
# Lays out the seed corpora of the fuzz targets in fuzz/corpus/TARGET/ (not committed):
# the model files of tests/fixtures for the loaders (those under 128 KiB: larger seeds slow
# every mutation and add no syntax the small ones lack), and hand-written requests and CSV
# blocks, framed as each target reads its input (see the target's header), for the decoders.
# Re-running it adds the seeds again; what the fuzzer found stays.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures
corpus=corpus

# seed TARGET NAME: the bytes on stdin become corpus/TARGET/NAME.
seed() {
    mkdir -p "$corpus/$1"
    cat > "$corpus/$1/$2"
}

# Model files: TARGET, then find's name patterns below tests/fixtures/DIR.
models() {
    local target=$1 dir=$2 name=$3
    find "$fixtures/$dir" -type f -name "$name" -size -128k -print0 |
        while IFS= read -r -d '' file; do
            # The path names the seed: xgboost/binary_logistic/model.json -> xgboost_binary_logistic_model.json
            local rel=${file#"$fixtures"/}
            seed "$target" "${rel//\//_}" < "$file"
        done
}
models xgboost_json xgboost 'model.json'
models xgboost_json contribs 'model.json'
models xgboost_ubjson xgboost 'model.ubj'
models lightgbm_text lightgbm 'model.txt'
models lightgbm_text contribs 'model.txt'
models sklearn_json sklearn 'model.json'
models catboost_json catboost 'model.json'
models catboost_cbm catboost 'model.cbm'
models vdm vdm '*.vdm'

# The decoders' models (fuzz/src/lib.rs): flags bit 0 clear is the named one (a, color in
# red/green/blue, b, dropped; a classifier), set is the positional one (f0, f1, f2). The
# flag byte is written with printf escapes: a shell variable cannot hold a NUL.

# POST /predict.
printf '\x00%s' '{"input": [1.5, "green", -2, null]}' | seed serve_simple input_array
printf '\x00%s' '{"input": {"a": 1.5, "color": "red", "b": 3e2, "dropped": "x"}}' | seed serve_simple input_object
printf '\x00%s' '{"inputs": [[1, "blue", 2, 0], [null, "purple", "4.5", 1]], "outputs": ["predict", "predict_proba", "raw"]}' | seed serve_simple inputs
printf '\x00%s' '{"instances": [{"a": 1, "color": "red", "b": true}, {"a": "", "color": null, "b": -0.0}]}' | seed serve_simple instances
printf '\x01%s' '{"inputs": [[0.1, 0.2, 0.3], [1e308, -1e308, "NaN"]]}' | seed serve_simple positional

# POST /v2/models/NAME/infer: flags bit 1 set means a u16 (little-endian) header length follows.
printf '\x00%s' '{"id": "7", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [[1, 0, 2, 3], [4, 2, 6, 7]]}]}' | seed serve_v2 one_tensor
printf '\x00%s' '{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]}, {"name": "color", "shape": [2, 1], "datatype": "BYTES", "data": ["red", "blue"]}, {"name": "b", "shape": [2], "datatype": "INT64", "data": [3, 4]}, {"name": "dropped", "shape": [2], "datatype": "BOOL", "data": [true, false]}], "outputs": [{"name": "predict_proba", "parameters": {"binary_data": true}}]}' | seed serve_v2 per_feature
printf '\x01%s' '{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP16", "data": [1, 2, 3]}], "parameters": {"binary_data_output": true}}' | seed serve_v2 fp16
# Binary tensors: one FP64 tensor of 1 x 3 (24 bytes) after a JSON header.
header='{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "parameters": {"binary_data_size": 24}}]}'
{
    printf '\x03'
    printf "\\x$(printf '%02x' $((${#header} % 256)))\\x$(printf '%02x' $((${#header} / 256)))"
    printf '%s' "$header"
    # 1.0, 2.0, 3.0 as little-endian f64.
    printf '\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x08\x40'
} | seed serve_v2 binary_fp64
header='{"inputs": [{"name": "color", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 12}}, {"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}}, {"name": "b", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}}, {"name": "dropped", "shape": [2], "datatype": "FP32", "data": [0, 1]}]}'
{
    printf '\x02'
    printf "\\x$(printf '%02x' $((${#header} % 256)))\\x$(printf '%02x' $((${#header} / 256)))"
    printf '%s' "$header"
    # BYTES: each element a u32 length and its bytes ("red", "blue"); then two i32 and two u8.
    printf '\x03\x00\x00\x00red\x04\x00\x00\x00blue'
    printf '\x07\x00\x00\x00\xf9\xff\xff\xff\x01\xff'
} | seed serve_v2 binary_mixed

# POST /invocations: flags bits 1-2 pick the Content-Type (0 none, 1 JSON, 2 CSV, 3 CSV; utf-8).
printf '\x02%s' '{"dataframe_split": {"columns": ["a", "color", "b", "dropped"], "index": [0, 1], "data": [[1, "red", 2, 0], [3, "green", null, 1]]}}' | seed serve_mlflow dataframe_split
printf '\x02%s' '{"dataframe_records": [{"a": 1, "color": "blue", "b": 2, "dropped": 0}], "params": {"output": "predict_proba"}}' | seed serve_mlflow dataframe_records
printf '\x00%s' '{"instances": [[1, "red", 2, 0]]}' | seed serve_mlflow instances
printf '\x02%s' '{"inputs": {"a": [1, 2], "color": ["red", "blue"], "b": [3, 4], "dropped": [0, 0]}, "params": {"output": "raw"}}' | seed serve_mlflow inputs_columns
printf '\x04%s' $'a,color,b,dropped\n1,red,2,0\n"3",green,,1\r\n' | seed serve_mlflow csv_named
printf '\x05%s' $'f0,f1,f2\n1,2,3\n4,5,6\n' | seed serve_mlflow csv_positional
printf '\x06%s' $'b,a,dropped,color\n2,1,,blue\n' | seed serve_mlflow csv_reordered

# CSV blocks: byte 0 the delimiter, NA and piece size; byte 1 the columns (see csv_block.rs).
# 3 columns: feature, text, feature (layout 0b00_10_00_10 = 0x22); comma, NA null, pieces of 2.
printf '\x0c\x22%s' $'1,a,0.5\n2,"b,c",-2\n,NA,+inf\n"4.5",,1e3\r\nNA,x,\n7\n' | seed csv_block mixed
# 2 features, semicolon, pieces of 1.
printf '\x01\x01%s' $'.5;5.\n-.5e-3;1E5\n NaN; -Infinity\n0.18905338179353307;-0\n' | seed csv_block spellings
# 4 columns: f64 other, integer, feature, feature; tab; pieces of 1024.
printf '\x1a\x37%s' $'1\t2.5\t3\t4\n\t\t\t\n"1"\t"2"\t"3"\t"4"\n' | seed csv_block typed
# One feature with quoted newlines and doubled quotes, pipe.
printf '\x0b\x00%s' $'"1"\n"2\n"\n"3""4"\n5\n' | seed csv_block quotes

for dir in "$corpus"/*/; do
    printf '%-16s %4d seeds\n' "$(basename "$dir")" "$(find "$dir" -type f | wc -l)"
done
