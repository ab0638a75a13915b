#!/bin/sh
# Runs in the image's runtime stage after `npm ci --omit=dev` (Dockerfile): removes the OpenTelemetry
# packages that @graphql-hive/plugin-opentelemetry declares as dependencies but that the hub never
# loads. The plugin's entry (dist/index.js) imports only @opentelemetry/api, core and
# semantic-conventions; its `setup` entry (auto-instrumentations-node, sdk-node, the gRPC/proto
# exporters) is not imported by the hub. The hub loads (lib/tracing.ts): api, core, sdk-trace-node,
# sdk-trace-base, context-async-hooks, resources, exporter-trace-otlp-http (+ otlp-exporter-base,
# otlp-transformer and what they import), instrumentation, instrumentation-undici and
# @prisma/instrumentation. tests/tooling/image.test.ts runs this on the runtime file set and then
# loads every tracing module and starts a service with tracing on from it.
set -eu
cd node_modules/@opentelemetry
rm -rf auto-instrumentations-node sdk-node configuration \
  exporter-trace-otlp-grpc exporter-trace-otlp-proto exporter-zipkin exporter-prometheus \
  exporter-logs-otlp-grpc exporter-logs-otlp-http exporter-logs-otlp-proto \
  exporter-metrics-otlp-grpc exporter-metrics-otlp-http exporter-metrics-otlp-proto \
  otlp-grpc-exporter-base propagator-aws-xray propagator-b3 propagator-jaeger \
  resource-detector-alibaba-cloud resource-detector-aws resource-detector-azure resource-detector-container resource-detector-gcp
for d in instrumentation-*; do
  [ "$d" = instrumentation-undici ] || rm -rf "$d"
done
cd ../..
rm -rf node_modules/@grpc
