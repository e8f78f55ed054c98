package dev.parley.jmh;

import dev.parley.internal.BenchFixture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * What {@code ParleyClient.metrics()} costs a monitoring thread: a snapshot of a connected client (over a transport
 * that only counts), taken by four threads at once. It reads atomics and one latency window and never waits on the
 * connection, so the score should stay in the nanoseconds-per-call range; MetricsSpec checks its consistency, this its
 * cost.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Threads(4)
public class MetricsBenchmark {
    private BenchFixture fixture;

    @Setup(Level.Trial)
    public void start() {
        fixture = new BenchFixture();
        fixture.startClientOverFakeTransport();
    }

    @TearDown(Level.Trial)
    public void stop() {
        fixture.stop();
    }

    @Benchmark
    public Object snapshot() {
        return fixture.metrics();
    }
}
