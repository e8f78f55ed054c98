package dev.parley.internal

import dev.parley.internal.transport.BytesLink
import dev.parley.internal.transport.FrameDecoder
import dev.parley.internal.transport.FrameEncoder
import dev.parley.internal.transport.LinkInput
import dev.parley.testing.RawPeer
import dev.parley.transport.Opcode
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.WireFrame
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import java.io.ByteArrayInputStream
import java.io.DataInputStream
import java.nio.ByteBuffer
import kotlin.random.Random

/** Lengths on both sides of every boundary: the 7/16/64-bit length forms and the I/O buffer's 32 KiB. */
private val LENGTHS =
    listOf(0, 1, 3, 125, 126, 127, 8191, 8192, 8193, 32754, 32755, 32768, 65535, 65536, 70001, 300_000)

/** A reference reader of client frames, written straight from RFC 6455 §5.2 and independent of FrameEncoder. */
private fun DataInputStream.readClientFrame(): Pair<Int, WireFrame> {
    val b0 = readUnsignedByte()
    val b1 = readUnsignedByte()
    check(b1 and 0x80 != 0) { "client frames must be masked" }
    val length =
        when (val short = b1 and 0x7F) {
            126 -> readUnsignedShort()
            127 -> readLong().toInt()
            else -> short
        }
    val key = ByteArray(4).also { readFully(it) }
    val payload = ByteArray(length).also { readFully(it) }
    for (i in payload.indices) payload[i] = (payload[i].toInt() xor key[i % 4].toInt()).toByte()
    val opcode = Opcode.entries.first { it.code == b0 and 0xF }
    return ByteBuffer.wrap(key).int to WireFrame(opcode, payload, fin = b0 and 0x80 != 0, rsv = (b0 shr 4) and 7)
}

/** A server frame (unmasked), as the raw test peer writes it. */
private fun serverFrame(opcode: Int, payload: ByteArray, fin: Boolean = true, rsv: Int = 0): ByteArray =
    RawPeer.encodeFrame(opcode, payload, fin, rsv, mask = false)

class FrameCodecSpec :
    FunSpec({
        test("every length class survives masking, also where a frame crosses the channel's buffer segments") {
            val random = Random(42)
            val frames = LENGTHS.map { WireFrame(Opcode.BINARY, random.nextBytes(it)) } +
                WireFrame(Opcode.TEXT, "fragment".encodeToByteArray(), fin = false) +
                WireFrame(Opcode.CONTINUATION, "end".encodeToByteArray(), fin = true)
            val link = BytesLink()
            val encoder = FrameEncoder(link, seed = 7)
            for (frame in frames) encoder.write(frame)
            encoder.flush()
            val input = DataInputStream(ByteArrayInputStream(link.written.toByteArray()))
            val decoded = frames.map { input.readClientFrame() }
            input.available() shouldBe 0
            for ((sent, got) in frames.zip(decoded.map { it.second })) {
                got.opcode shouldBe sent.opcode
                got.fin shouldBe sent.fin
                got.payload.contentEquals(sent.payload) shouldBe true
            }
            // Each frame has its own key.
            decoded.map { it.first }.toSet().size shouldBeGreaterThan frames.size - 2
        }

        test("the decoder reads every length class, fragments and reserved bits as sent") {
            val random = Random(7)
            val payloads = LENGTHS.map { random.nextBytes(it) }
            val bytes =
                payloads.fold(ByteArray(0)) { all, p -> all + serverFrame(0x2, p) } +
                    serverFrame(0x1, "a".encodeToByteArray(), fin = false, rsv = 4)
            val decoder = FrameDecoder(LinkInput(BytesLink(bytes, chunk = 1000)), maxFrameSize = 1L shl 20)
            val frames = buildList { while (true) add(decoder.read() ?: break) }
            frames shouldHaveSize payloads.size + 1
            for ((frame, payload) in frames.zip(payloads)) frame.payload.contentEquals(payload) shouldBe true
            frames.last().fin shouldBe false
            frames.last().rsv shouldBe 4
        }

        test("a frame longer than maxFrameSize is refused from its header, before its payload is read") {
            // The header announces 1 MiB, and no payload follows: the decoder must not wait for it.
            val header = ByteBuffer.allocate(10).put(0x82.toByte()).put(127.toByte()).putLong(1L shl 20).array()
            val decoder = FrameDecoder(LinkInput(BytesLink(header)), maxFrameSize = 1000)
            shouldThrow<TransportProtocolException> { decoder.read() }.closeCode shouldBe 1009
        }

        test("a control frame over 125 bytes is refused from its header, before its payload is read") {
            // Only the header is there: a decoder that tried to read the 34,464 bytes would hit the end of stream.
            val header = byteArrayOf(0x89.toByte(), 126, 0x86.toByte(), 0xA0.toByte())
            val e =
                shouldThrow<TransportProtocolException> { FrameDecoder(LinkInput(BytesLink(header)), 1L shl 20).read() }
            e.closeCode shouldBe 1002
            e.message shouldBe "PING frame of 34464 bytes; control frames carry at most 125"
        }

        test("a fragmented control frame is refused from its header") {
            val header = byteArrayOf(0x0A, 5)
            val e =
                shouldThrow<TransportProtocolException> { FrameDecoder(LinkInput(BytesLink(header)), 1L shl 20).read() }
            e.closeCode shouldBe 1002
            e.message shouldBe "fragmented PONG frame"
        }

        test("invalid UTF-8 fails as soon as its bytes arrive, also in the middle of one frame") {
            // A 100,000-byte text frame whose third byte is 0xFF, delivered 1,000 bytes at a time.
            val payload = ByteArray(100_000) { 'a'.code.toByte() }.also { it[2] = 0xFF.toByte() }
            val link = BytesLink(serverFrame(0x1, payload), chunk = 1000)
            val e = shouldThrow<TransportProtocolException> { FrameDecoder(LinkInput(link), 1L shl 20).read() }
            e.closeCode shouldBe 1007
            // The first read brought the header and the bad byte; nothing of the other 99 KB was asked for.
            link.reads shouldBe 1
        }

        test("a text message split across frames is checked across the split, a binary one is not checked") {
            val euro = "€".encodeToByteArray()
            val bytes =
                serverFrame(0x1, euro.copyOfRange(0, 1), fin = false) + serverFrame(0x0, euro.copyOfRange(1, 3)) +
                    serverFrame(0x2, byteArrayOf(0xFF.toByte())) +
                    serverFrame(0x1, byteArrayOf(0xC3.toByte()), fin = false) +
                    serverFrame(0x0, byteArrayOf(0x28))
            val decoder = FrameDecoder(LinkInput(BytesLink(bytes, chunk = 1)), 1L shl 20)
            repeat(4) { decoder.read() }
            shouldThrow<TransportProtocolException> { decoder.read() }.closeCode shouldBe 1007
        }

        test("nothing can be written after a Close frame") {
            val encoder = FrameEncoder(BytesLink(), seed = 1)
            encoder.write(WireFrame(Opcode.CLOSE, byteArrayOf(3, -24)))
            val e =
                shouldThrow<java.io.IOException> { encoder.write(WireFrame(Opcode.TEXT, "late".encodeToByteArray())) }
            e.message shouldBe "a TEXT frame after our Close frame: nothing may follow it"
        }
    })
