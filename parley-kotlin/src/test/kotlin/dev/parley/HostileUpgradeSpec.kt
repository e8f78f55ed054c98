package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.recorder
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import java.net.ProtocolException
import kotlin.random.Random
import kotlin.time.Duration.Companion.seconds

/*
 * A server's answer to the upgrade, over a real socket: garbage and oversized heads end the attempt with a reason that
 * explains them (ConnectFailed carrying a ProtocolException), and a valid head is read without eating the frame that
 * follows it in the same TCP segment.
 */
class HostileUpgradeSpec :
    FunSpec({
        /** Answers the client's upgrade request with [answer]'s bytes, then lets [check] read the handler's record. */
        suspend fun <T> attemptAgainst(
            answer: (RawPeer) -> ByteArray,
            check: suspend (RecordingHandler<Unit>) -> T,
        ): T = coroutineScope {
            // The server closes (ending a blocked answer) before this scope waits for its children.
            RawWebSocketServer(answerUpgrade = false).use { server ->
                val handler = recorder()
                val client = Parley.start(
                    handler,
                    Unit,
                    parleyOptions {
                        url = server.url()
                        reconnect = null
                    },
                )
                try {
                    val peer = server.awaitConnection()
                    // Not awaited: the client stops reading a head it refuses, so a large answer may never be taken
                    // in full (the write ends when the server closes the socket).
                    val answering = launch(Dispatchers.IO) { runCatching { peer.sendRaw(answer(peer)) } }
                    check(handler).also { answering.cancel() }
                } finally {
                    withTimeout(10.seconds) { client.stop() }
                }
            }
        }

        suspend fun attemptAgainst(answer: (RawPeer) -> ByteArray): Seen =
            attemptAgainst(answer) { it.next(10.seconds) }

        fun connectFailure(seen: Seen): ProtocolException {
            val reason = seen.shouldBeInstanceOf<Seen.Disconnected>().reason
            val failed = reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
            return failed.cause.shouldBeInstanceOf<ProtocolException>()
        }

        test("4 KiB of random bytes end the attempt as ConnectFailed with an explanation, not a parser's index error") {
            val seen = attemptAgainst { Random(7).nextBytes(4096) }
            connectFailure(seen).message shouldStartWith "upgrade response: "
        }

        test("a response that is not HTTP ends the attempt as ConnectFailed: not an HTTP status line") {
            val seen = attemptAgainst { "SSH-2.0-OpenSSH_9.6\r\n\r\n".encodeToByteArray() }
            connectFailure(seen).message shouldContain "not an HTTP/1.x status line: 'SSH-2.0-OpenSSH_9.6'"
        }

        test("a 101 with 16,384 header lines ends the attempt at the 101st line and never counts as connected") {
            val seen =
                attemptAgainst { peer -> peer.switchingProtocolsHead("X: y\r\n".repeat(16_384)).encodeToByteArray() }
            connectFailure(seen).message shouldContain "more than 100 header lines"
        }

        test("a frame sent in the same segment as the 101 reaches the handler") {
            val frame =
                attemptAgainst({ peer ->
                    val hi = RawPeer.encodeFrame(
                        WsOpcode.TEXT,
                        "hi".encodeToByteArray(),
                        fin = true,
                        rsv = 0,
                        mask = false,
                    )
                    peer.switchingProtocolsHead().encodeToByteArray() + hi
                }) { handler ->
                    handler.expect<Seen.Connected>()
                    handler.expect<Seen.Received>().frame
                }
            frame shouldBe Frame.Text("hi")
        }
    })
