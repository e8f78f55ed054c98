package dev.parley.jmh;

import dev.parley.internal.Utf8Fixture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * Utf8Validator over 16 KiB of mixed text (ASCII with Latin, Cyrillic, Greek, CJK, euro sign and emoji). One op is
 * the whole 16 KiB; multiply by 16,384 for bytes per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class Utf8ValidatorBenchmark {
    private final Utf8Fixture fixture = new Utf8Fixture();

    @Benchmark
    public boolean mixed16k() {
        return fixture.validateMixed16k();
    }
}
