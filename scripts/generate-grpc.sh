#!/usr/bin/env bash
# Regenerates Sources/DLSMSProto from proto/library.proto with Debian's protoc
# (apt-get install protobuf-compiler) and the generators of the package's own
# dependencies (swift-protobuf's protoc-gen-swift, grpc-swift-protobuf's
# protoc-gen-grpc-swift-2), built here in debug.
#   scripts/generate-grpc.sh          write the generated files
#   scripts/generate-grpc.sh --check  fail if the committed files differ from a fresh generation
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift >/dev/null
swift build --product protoc-gen-grpc-swift-2 >/dev/null
bin=$(swift build --show-bin-path)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc --proto_path=proto \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$out" --swift_opt=Visibility=Public \
    --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,Server=true,Client=true \
    library.proto
# Generated code keeps the generators' layout: swift-format is told to leave it alone.
for f in "$out"/*.swift; do
    { echo "// swift-format-ignore-file"; cat "$f"; } >"$f.tmp" && mv "$f.tmp" "$f"
done

if [ "${1:-}" = "--check" ]; then
    for f in "$out"/*.swift; do
        if ! cmp -s "$f" "Sources/DLSMSProto/$(basename "$f")"; then
            echo "Sources/DLSMSProto/$(basename "$f") does not match proto/library.proto: run scripts/generate-grpc.sh" >&2
            diff -u "Sources/DLSMSProto/$(basename "$f")" "$f" | head -40 >&2 || true
            exit 1
        fi
    done
    echo "generated gRPC code matches proto/library.proto"
else
    cp "$out"/*.swift Sources/DLSMSProto/
    echo "wrote $(cd "$out" && ls *.swift | tr '\n' ' ')to Sources/DLSMSProto/"
fi
