package dev.parley

import dev.parley.internal.deflate.serverDeflate
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.withRecordedClient
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.util.zip.Deflater
import java.util.zip.Inflater

/*
 * permessage-deflate against a raw server that negotiates it and then sends, byte for byte, what the test makes with
 * the JDK's zlib: what real servers do (context kept across messages, a message over several frames) and what they
 * must not (a compressed control frame, a bomb, bytes that are not deflate data, a 101 that selects the wrong thing).
 * DeflateInteropSpec runs the same extension against npm ws and python3-websockets.
 */
class DeflateSpec :
    FunSpec({
        val deflateSelected = listOf("Sec-WebSocket-Extensions: permessage-deflate")

        /** A client of a raw server answering the upgrade with [extraHeaders], and that server's side of it. */
        suspend fun withPeer(
            extraHeaders: List<String> = deflateSelected,
            configure: ParleyOptions.Builder.() -> Unit = {},
            block: suspend (ParleyClient, RawPeer, RecordingHandler<Unit>) -> Unit,
        ) {
            RawWebSocketServer(extraHeaders = extraHeaders).use { server ->
                withRecordedClient({
                    url = server.url()
                    configure()
                }) { client, handler ->
                    server.awaitConnection().use { peer -> block(client, peer, handler) }
                }
            }
        }

        val json = """{"channel":"trades.BTC-PERPETUAL","data":[{"price":64011.5,"amount":1200,"side":"buy"}]}"""

        context("the offer") {
            test("by default the upgrade request offers permessage-deflate and nothing more") {
                withPeer { _, peer, _ ->
                    peer.request.header("Sec-WebSocket-Extensions") shouldBe "permessage-deflate"
                }
            }

            test("with compression off nothing is offered") {
                withPeer(extraHeaders = emptyList(), configure = { compression = null }) { _, peer, _ ->
                    peer.request.header("Sec-WebSocket-Extensions") shouldBe null
                }
            }
        }

        context("what the client sends") {
            test("a message at or above the threshold goes compressed with RSV1 and inflates to what was sent") {
                withPeer { client, peer, handler ->
                    handler.expect<Seen.Connected>()
                    val big = json.repeat(40)
                    client.send(Frame.Text(big))
                    val frame = peer.readFrame()
                    frame.rsv shouldBe 4
                    frame.fin shouldBe true
                    frame.payload.size shouldBeLessThan big.length / 10
                    inflate(Inflater(true), frame.payload).decodeToString() shouldBe big
                }
            }

            test("a message below the threshold, and every control frame, go uncompressed") {
                withPeer { client, peer, handler ->
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text(json))
                    peer.readFrame().rsv shouldBe 0
                    peer.sendFrame(WsOpcode.PING, "are you there".encodeToByteArray())
                    val pong = peer.readFrame()
                    pong.opcode shouldBe WsOpcode.PONG
                    pong.rsv shouldBe 0
                    client.disconnect()
                    val close = peer.readFrame()
                    close.opcode shouldBe WsOpcode.CLOSE
                    close.rsv shouldBe 0
                }
            }

            test("client_no_context_takeover from the server makes every message inflate on its own") {
                val reply = deflateSelected.map { "$it; client_no_context_takeover" }
                withPeer(reply, { compression = Compression(threshold = 0) }) { client, peer, handler ->
                    handler.expect<Seen.Connected>()
                    repeat(2) { client.send(Frame.Text(json)) }
                    repeat(2) { inflate(Inflater(true), peer.readFrame().payload).decodeToString() shouldBe json }
                }
            }
        }

        context("what the server sends") {
            test("messages that refer back to earlier ones decode, because the context is kept") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    val server = Deflater(Deflater.DEFAULT_COMPRESSION, true)
                    val first = serverDeflate(server, json.encodeToByteArray())
                    val second = serverDeflate(server, json.encodeToByteArray())
                    second.size shouldBeLessThan first.size / 3
                    peer.sendFrame(WsOpcode.TEXT, first, rsv = 4)
                    peer.sendFrame(WsOpcode.TEXT, second, rsv = 4)
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text(json)
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text(json)
                }
            }

            test("a compressed message split over three frames, RSV1 on the first only, arrives whole") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    val bytes = ByteArray(20_000) { (it % 251).toByte() }
                    val wire = serverDeflate(Deflater(Deflater.DEFAULT_COMPRESSION, true), bytes)
                    val cut = listOf(0, wire.size / 3, 2 * wire.size / 3, wire.size)
                    peer.sendFrame(WsOpcode.BINARY, wire.copyOfRange(cut[0], cut[1]), fin = false, rsv = 4)
                    peer.sendFrame(WsOpcode.CONTINUATION, wire.copyOfRange(cut[1], cut[2]), fin = false)
                    peer.sendFrame(WsOpcode.CONTINUATION, wire.copyOfRange(cut[2], cut[3]))
                    handler.expect<Seen.Received>().frame.shouldBeInstanceOf<Frame.Binary>().bytes shouldBe bytes
                }
            }

            test("a compressed ping is a protocol violation, closed with 1002") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.PING, serverDeflate(Deflater(6, true), "x".encodeToByteArray()), rsv = 4)
                    val reason = handler.awaitSeen<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1002
                    reason.message shouldContain "control frames never are"
                    peer.readFrame().closeCode shouldBe 1002
                }
            }

            test("RSV1 on a continuation frame is a protocol violation") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.TEXT, "plain ".encodeToByteArray(), fin = false)
                    peer.sendFrame(WsOpcode.CONTINUATION, "more".encodeToByteArray(), rsv = 4)
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1002
                }
            }

            test("a bomb, 64 KiB that inflate to 64 MiB, is refused with 1009 at maxFrameSize") {
                withPeer(configure = { maxFrameSize = 1L shl 20 }) { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    val bomb = serverDeflate(Deflater(Deflater.BEST_COMPRESSION, true), ByteArray(64 shl 20))
                    peer.sendFrame(WsOpcode.BINARY, bomb, rsv = 4)
                    handler.awaitSeen<Seen.Disconnected>().reason shouldBe DisconnectReason.MessageTooBig(1L shl 20)
                    peer.readFrame().closeCode shouldBe CloseCodes.MESSAGE_TOO_BIG
                }
            }

            test("bytes that are not deflate data close with 1007") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.TEXT, byteArrayOf(-1, -1, -1, -1, 0x13), rsv = 4)
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1007
                }
            }

            test("compressed text that inflates to invalid UTF-8 closes with 1007") {
                withPeer { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    val bad = serverDeflate(Deflater(6, true), byteArrayOf(0x61, -0x3f, 0x62))
                    peer.sendFrame(WsOpcode.TEXT, bad, rsv = 4)
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1007
                }
            }

            test("with compression off, a compressed frame is a protocol violation") {
                withPeer(emptyList(), { compression = null }) { _, peer, handler ->
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.TEXT, serverDeflate(Deflater(6, true), json.encodeToByteArray()), rsv = 4)
                    handler.awaitSeen<Seen.Disconnected>().reason
                        .shouldBeInstanceOf<DisconnectReason.ProtocolViolation>().closeCode shouldBe 1002
                }
            }
        }

        context("a 101 that selects what was not offered fails the attempt as HandshakeRejected") {
            for (
            (header, why) in listOf(
                "permessage-deflate; client_max_window_bits=10" to "client_max_window_bits",
                "permessage-deflate; server_max_window_bits=20" to "8..15",
                "x-webkit-deflate-frame" to "not offered",
            )
            ) {
                test(header) {
                    RawWebSocketServer(extraHeaders = listOf("Sec-WebSocket-Extensions: $header")).use { server ->
                        withRecordedClient({ url = server.url() }) { _, handler ->
                            val reason = handler.awaitSeen<Seen.Disconnected>().reason
                            reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().status shouldBe 101
                            reason.message shouldContain why
                        }
                    }
                }
            }
        }
    })

/** What a server makes of a compressed message from the client: [wire] with the tail put back, inflated. */
private fun inflate(inflater: Inflater, wire: ByteArray): ByteArray {
    inflater.setInput(wire + byteArrayOf(0, 0, -1, -1))
    val out = java.io.ByteArrayOutputStream()
    val chunk = ByteArray(64 * 1024)
    while (true) {
        val n = inflater.inflate(chunk)
        if (n == 0) break
        out.write(chunk, 0, n)
    }
    return out.toByteArray()
}
