package dev.parley.jmh;

import dev.parley.internal.AssemblerFixture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/** MessageAssembler alone: one unfragmented frame in, one message out (one assembler, as on a connection). */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class MessageAssemblerBenchmark {
    private final AssemblerFixture fixture = new AssemblerFixture();

    /** UTF-8 validation and decoding to a String. */
    @Benchmark
    public Object text64() {
        return fixture.assembleText64();
    }

    /** Checks and wraps; a single-frame binary message is not copied. */
    @Benchmark
    public Object binary16k() {
        return fixture.assembleBinary16k();
    }
}
