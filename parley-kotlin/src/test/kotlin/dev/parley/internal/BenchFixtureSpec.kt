package dev.parley.internal

import dev.parley.Frame
import dev.parley.transport.Opcode
import dev.parley.transport.WireFrame
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf

/** Keeps the JMH fixtures (parley-jmh) honest: each path does what its benchmark claims to measure. */
class BenchFixtureSpec :
    FunSpec({
        test("send and trySend reach the transport's write and flush, 64 bytes a frame") {
            val f = BenchFixture()
            f.startClientOverFakeTransport()
            try {
                f.sendBatch(100)
                f.dataFramesWritten() shouldBe 100
                f.trySendBatch(1000)
                f.dataFramesWritten() shouldBe 1100
                f.dataBytesWritten() shouldBe 1100L * 64
                f.flushes() shouldBeGreaterThan 0
            } finally {
                f.stop()
            }
        }

        test("inbound frames reach the handler's onFrame, batch after batch") {
            val f = BenchFixture()
            f.startClientOverFakeTransport()
            try {
                f.deliverInbound(500)
                f.framesHandled() shouldBe 500
                f.deliverInbound(500)
                f.framesHandled() shouldBe 1000
            } finally {
                f.stop()
            }
        }

        test("the assembler fixture yields whole messages; the UTF-8 sample is 16 KiB, mixed and valid") {
            val a = AssemblerFixture()
            val text = a.assembleText64().shouldBeInstanceOf<Inbound.Message>().frame
            text.shouldBeInstanceOf<Frame.Text>().text.encodeToByteArray().size shouldBe 64
            a.assembleBinary16k().shouldBeInstanceOf<Inbound.Message>().frame.shouldBeInstanceOf<Frame.Binary>()
            val u = Utf8Fixture()
            u.mixed16k.size shouldBe 16 * 1024
            u.validateMixed16k() shouldBe true
            (u.mixed16k.count { it < 0 } > 4 * 1024) shouldBe true
            MessageAssembler(Long.MAX_VALUE)
                .accept(WireFrame(Opcode.TEXT, u.mixed16k))
                .shouldBeInstanceOf<Inbound.Message>()
        }
    })
