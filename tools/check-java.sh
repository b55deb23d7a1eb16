#!/usr/bin/env bash
# Fails, saying what to do, unless a Java 17 (or later) runtime is there: pyspark 4, which the
# Spark tests (crates/python/tests/test_spark.py) run, needs one. JAVA_HOME wins over PATH, as
# it does for Spark.
set -euo pipefail

java=java
if [ -n "${JAVA_HOME:-}" ]; then
  java="$JAVA_HOME/bin/java"
fi
if ! command -v "$java" >/dev/null 2>&1; then
  echo "error: the Spark tests need a Java 17 (or later) runtime and found none ($java):" \
    "install one (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME" >&2
  exit 1
fi
# `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15`, or "1.8.0_402" for Java 8.
major=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
  echo "error: the Spark tests need Java 17 or later; $java is Java ${major:-of unknown version}:" \
    "install a newer one (Debian: apt-get install openjdk-17-jre-headless) or point JAVA_HOME at it" >&2
  exit 1
fi
