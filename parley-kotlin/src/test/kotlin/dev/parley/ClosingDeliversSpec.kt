package dev.parley

import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.WsOpcode
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A graceful disconnect() is a handshake, not a cut: RFC 6455 §5.5.1 lets the peer keep sending data until it answers
 * our close frame, and those frames are part of the conversation. The peer's answer itself is evidence worth keeping.
 */
class ClosingDeliversSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        /** Disconnects with (4000, "client leaving"); the raw peer answers our close with 3 texts, then its close. */
        suspend fun closeWithTrailingFrames(
            server: RawWebSocketServer,
            peerClose: Pair<Int, String>?,
            closeTimeout: kotlin.time.Duration = 5.seconds,
        ): List<Seen> = coroutineScope {
            val handler = recorder()
            val client = Parley.start(
                handler,
                Unit,
                parleyOptions {
                    url = server.url()
                    this.closeTimeout = closeTimeout
                },
            )
            try {
                val peer = server.awaitConnection()
                client.awaitConnected()
                handler.expect<Seen.Connected>()
                val disconnecting = async(Dispatchers.Default) {
                    withTimeout(closeTimeout + 5.seconds) { client.disconnect(4000, "client leaving") }
                }
                val ours = peer.readFrame()
                ours.opcode shouldBe WsOpcode.CLOSE
                ours.closeCode shouldBe 4000
                if (peerClose != null) {
                    peer.sendText("trailing 1")
                    peer.sendText("trailing 2")
                    peer.sendText("trailing 3")
                    peer.sendClose(peerClose.first, peerClose.second)
                }
                disconnecting.await()
                val seen = mutableListOf<Seen>()
                while (seen.lastOrNull() !is Seen.Disconnected) seen += handler.next()
                seen
            } finally {
                withTimeoutOrNull(5.seconds) { client.stop() }
            }
        }

        test("disconnect() delivers the data frames the peer sends between our close and its close, in order") {
            RawWebSocketServer().use { server ->
                val seen = closeWithTrailingFrames(server, peerClose = CloseCodes.GOING_AWAY to "server going")
                withClue("callbacks after disconnect(): $seen") {
                    seen.filterIsInstance<Seen.Received>().map { it.frame } shouldBe
                        listOf(Frame.Text("trailing 1"), Frame.Text("trailing 2"), Frame.Text("trailing 3"))
                    seen.last().shouldBeInstanceOf<Seen.Disconnected>()
                }
                val reason =
                    (seen.last() as Seen.Disconnected).reason.shouldBeInstanceOf<DisconnectReason.ClosedLocally>()
                reason.code shouldBe 4000
                reason.reason shouldBe "client leaving"
                reason.acknowledged shouldBe true
            }
        }

        // The one test here that needs the new properties (it does not compile before they exist).
        test("ClosedLocally carries the peer's answer: peerCode and peerReason, or null when it never answered") {
            RawWebSocketServer().use { server ->
                val answered = closeWithTrailingFrames(server, peerClose = CloseCodes.GOING_AWAY to "server going")
                val reason =
                    (answered.last() as Seen.Disconnected).reason.shouldBeInstanceOf<DisconnectReason.ClosedLocally>()
                reason.acknowledged shouldBe true
                reason.peerCode shouldBe CloseCodes.GOING_AWAY
                reason.peerReason shouldBe "server going"
            }
            RawWebSocketServer().use { server ->
                val unanswered = closeWithTrailingFrames(server, peerClose = null, closeTimeout = 300.milliseconds)
                val reason =
                    (unanswered.last() as Seen.Disconnected).reason.shouldBeInstanceOf<DisconnectReason.ClosedLocally>()
                reason.acknowledged shouldBe false
                reason.peerCode.shouldBeNull()
                reason.peerReason.shouldBeNull()
            }
        }
    })
