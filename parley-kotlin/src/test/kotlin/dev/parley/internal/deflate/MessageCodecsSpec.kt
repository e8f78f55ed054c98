package dev.parley.internal.deflate

import dev.parley.CloseCodes
import dev.parley.transport.TransportProtocolException
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import java.io.IOException
import java.lang.management.ManagementFactory
import java.util.zip.DataFormatException
import java.util.zip.Deflater
import java.util.zip.Inflater
import kotlin.random.Random

/*
 * The compressor and decompressor on their own, against the JDK's zlib used directly as "the server": context
 * takeover, frames of one message, a final block, and what a hostile peer can send.
 */
class MessageCodecsSpec :
    FunSpec({
        val json = """{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms",""" +
            """"data":{"bids":[[64011.5,1200],[64011.0,300]],"asks":[[64012.0,90]]}}}"""
        val text = json.repeat(8).toByteArray()

        test("a message compressed by us inflates back with a plain zlib stream, and shrinks") {
            val deflater = MessageDeflater(Deflater.DEFAULT_COMPRESSION, noContextTakeover = false)
            val wire = deflater.deflate(text)
            wire.size shouldBeLessThan text.size / 4
            serverInflate(Inflater(true), wire) shouldBe text
        }

        test("an empty message compresses to a few bytes that inflate back to nothing") {
            val deflater = MessageDeflater(Deflater.DEFAULT_COMPRESSION, noContextTakeover = false)
            val wire = deflater.deflate(ByteArray(0))
            serverInflate(Inflater(true), wire).size shouldBe 0
            MessageInflater(1024).inflate(serverDeflate(Deflater(6, true), ByteArray(0)), last = true).size shouldBe 0
        }

        test("with context takeover the second copy of a message is a few bytes that only the kept context decodes") {
            val deflater = MessageDeflater(Deflater.DEFAULT_COMPRESSION, noContextTakeover = false)
            val first = deflater.deflate(text)
            val second = deflater.deflate(text)
            second.size shouldBeLessThan first.size / 4
            val server = Inflater(true)
            serverInflate(server, first) shouldBe text
            serverInflate(server, second) shouldBe text
            // A fresh stream, without the first message, cannot make sense of the second.
            runCatching { serverInflate(Inflater(true), second) }.getOrNull() shouldNotBe text
        }

        test("without context takeover every message inflates on its own") {
            val deflater = MessageDeflater(Deflater.DEFAULT_COMPRESSION, noContextTakeover = true)
            deflater.deflate(text)
            serverInflate(Inflater(true), deflater.deflate(text)) shouldBe text
        }

        test("the server's messages inflate with its context kept across messages, one frame or several") {
            val server = Deflater(Deflater.DEFAULT_COMPRESSION, true)
            val inflater = MessageInflater(maxMessageSize = 1 shl 20)
            inflater.inflate(serverDeflate(server, text), last = true) shouldBe text
            // The second copy refers back to the first; split across three frames as a server may send it.
            val second = serverDeflate(server, text)
            second.size shouldBeLessThan 64
            val thirds = listOf(0, second.size / 3, 2 * second.size / 3, second.size).zipWithNext()
            val plain = thirds.mapIndexed { i, (from, to) ->
                inflater.inflate(second.copyOfRange(from, to), last = i == 2)
            }
            plain.reduce(ByteArray::plus) shouldBe text
        }

        test("a message that ends with a final deflate block is inflated, and the next starts afresh") {
            val inflater = MessageInflater(maxMessageSize = 1 shl 20)
            repeat(2) {
                val finished = Deflater(Deflater.DEFAULT_COMPRESSION, true)
                finished.setInput(text)
                finished.finish()
                val out = ByteArray(text.size)
                val n = finished.deflate(out)
                inflater.inflate(out.copyOf(n), last = true) shouldBe text
            }
        }

        test("a bomb stops at the limit: 64 MiB of zeros in about 64 KiB is refused with 1009 after 1 MiB") {
            val bomb = serverDeflate(Deflater(Deflater.BEST_COMPRESSION, true), ByteArray(64 shl 20))
            bomb.size shouldBeLessThan 128 * 1024
            val inflater = MessageInflater(maxMessageSize = 1 shl 20)
            val threads = ManagementFactory.getThreadMXBean() as com.sun.management.ThreadMXBean
            val before = threads.currentThreadAllocatedBytes
            val e = shouldThrow<TransportProtocolException> { inflater.inflate(bomb, last = true) }
            val allocated = threads.currentThreadAllocatedBytes - before
            e.closeCode shouldBe CloseCodes.MESSAGE_TOO_BIG
            e.message shouldContain "maxFrameSize 1048576"
            // The output buffer grows to the limit and no further: a few MiB at most, never the 64 inflated.
            allocated shouldBeLessThan (8L shl 20)
        }

        test("the limit counts the whole message, across its frames") {
            val server = Deflater(Deflater.DEFAULT_COMPRESSION, true)
            val wire = serverDeflate(server, Random(1).nextBytes(3000))
            val inflater = MessageInflater(maxMessageSize = 2000)
            val half = wire.size / 2
            inflater.inflate(wire.copyOf(half), last = false)
            shouldThrow<TransportProtocolException> {
                inflater.inflate(wire.copyOfRange(half, wire.size), last = true)
            }.closeCode shouldBe CloseCodes.MESSAGE_TOO_BIG
        }

        test("bytes that are not deflate data are refused with 1007") {
            val e = shouldThrow<TransportProtocolException> {
                MessageInflater(1 shl 20).inflate(byteArrayOf(-1, -1, -1, -1, 0x13), last = true)
            }
            e.closeCode shouldBe CloseCodes.INVALID_PAYLOAD
        }

        test("after end() a codec fails with an IOException, like I/O on a closed connection") {
            val deflater = MessageDeflater(Deflater.DEFAULT_COMPRESSION, noContextTakeover = false)
            deflater.deflate(text)
            deflater.end()
            deflater.end()
            shouldThrow<IOException> { deflater.deflate(text) }
            val inflater = MessageInflater(1 shl 20)
            inflater.end()
            shouldThrow<IOException> { inflater.inflate(byteArrayOf(0), last = true) }
        }
    })

/** What a server sends: [bytes] deflated with a sync flush, the trailing 00 00 FF FF removed (RFC 7692 §7.2.1). */
internal fun serverDeflate(deflater: Deflater, bytes: ByteArray): ByteArray {
    deflater.setInput(bytes)
    val out = java.io.ByteArrayOutputStream()
    val chunk = ByteArray(64 * 1024)
    while (true) {
        val n = deflater.deflate(chunk, 0, chunk.size, Deflater.SYNC_FLUSH)
        out.write(chunk, 0, n)
        if (n < chunk.size) break
    }
    val all = out.toByteArray()
    return all.copyOf(all.size - 4)
}

/** What a server does with one of our messages: puts back the tail and inflates it with its own stream. */
private fun serverInflate(inflater: Inflater, wire: ByteArray): ByteArray {
    inflater.setInput(wire + byteArrayOf(0, 0, -1, -1))
    val out = java.io.ByteArrayOutputStream()
    val chunk = ByteArray(64 * 1024)
    while (true) {
        val n = try {
            inflater.inflate(chunk)
        } catch (e: DataFormatException) {
            throw IOException(e)
        }
        if (n == 0) break
        out.write(chunk, 0, n)
    }
    return out.toByteArray()
}
