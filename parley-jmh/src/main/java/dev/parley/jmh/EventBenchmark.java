package dev.parley.jmh;

import dev.parley.internal.EventFixture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What emitting an event on {@code ParleyClient.events} costs the emitting thread, with nobody listening and with one
 * collector: a lifecycle event (always built, emitted into the replay-1 shared flow) and a send gate event (built only
 * while someone collects). With a collector, one that cannot keep up loses the oldest; the emitter never waits, which
 * is what is measured here.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class EventBenchmark {
    /** How many collect the events: none, or one. */
    @Param({"0", "1"})
    public int collectors;

    private EventFixture fixture;

    @Setup(Level.Trial)
    public void start() {
        fixture = new EventFixture();
        if (collectors > 0) fixture.startCollector();
    }

    @TearDown(Level.Trial)
    public void stop() {
        fixture.stop();
    }

    @Benchmark
    public void lifecycleEvent() {
        fixture.emitLifecycle();
    }

    @Benchmark
    public void gateEvent() {
        fixture.emitGateEvent();
    }
}
