package dev.parley.jmh;

import dev.parley.internal.BenchFixture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Inbound dispatch without a network: the transport yields {@value #BATCH} preloaded 64-byte text frames; an
 * invocation ends when the handler's onFrame has seen them all (session reader, MessageAssembler with UTF-8
 * validation, the loop's event channel, the connection loop, the handler). The score is frames per second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class InboundDispatchBenchmark {
    static final int BATCH = 1000;

    private BenchFixture fixture;
    private long delivered;

    @Setup(Level.Trial)
    public void start() {
        fixture = new BenchFixture();
        fixture.startClientOverFakeTransport();
    }

    @TearDown(Level.Trial)
    public void stop() {
        fixture.stop();
        if (fixture.framesHandled() != delivered) {
            throw new IllegalStateException(
                    "delivered " + delivered + " frames but the handler saw " + fixture.framesHandled());
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void textFrame64ToHandler() {
        fixture.deliverInbound(BATCH);
        delivered += BATCH;
    }
}
