package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitDisconnected
import dev.parley.testing.CloseFrameRecord
import dev.parley.testing.JettyTestServer
import dev.parley.testing.KtorTestServer
import dev.parley.testing.ParleyTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Elixir Parley's `test/parley/disconnect_return_test.exs` (tests #54–#60 of the seed analysis): a handler returning
 * [HandlerAction.Disconnect] closes the connection gracefully, keeps the client alive, and hands its reason to
 * onDisconnect as [DisconnectReason.ByHandler]. Each test name ends with the Parley test number it ports.
 */
class DisconnectActionSpec :
    FunSpec({
        // A safety net only: every wait below is bounded on its own.
        defaultTestConfig = DefaultTestConfig(timeout = 60.seconds)

        test("Disconnect from onConnect closes gracefully and onDisconnect gets ByHandler(reason) (Parley #54)") {
            val handler = RecordingHandler<Unit>(onConnected = { HandlerAction.Disconnect("not_authorized", it) })
            withServerAndClient(handler, Unit) { client, server ->
                handler.expect<Seen.Connected>()
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ByHandler(
                        "not_authorized",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                server.closeFrames.awaitNext() shouldBe CloseFrameRecord(1000, "")
                client.shouldStayAlive(handler)
            }
        }

        test("Disconnect from onFrame closes gracefully and onDisconnect gets ByHandler(reason) (Parley #55)") {
            val handler = RecordingHandler<Unit>(
                onReceived = { frame, s ->
                    if (frame ==
                        Frame.Text("bye")
                    ) {
                        HandlerAction.Disconnect("server_said_bye", s)
                    } else {
                        HandlerAction.Ok(s)
                    }
                },
            )
            withServerAndClient(handler, Unit) { client, _ ->
                handler.awaitConnectedCallback(client)
                client.sendWithin(Frame.Text("bye"))
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("bye")
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ByHandler(
                        "server_said_bye",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                client.shouldStayAlive(handler)
            }
        }

        test("Disconnect from onPing closes gracefully and onDisconnect gets ByHandler(reason) (Parley #56)") {
            val handler = RecordingHandler<Unit>(
                onPinged = { _, s -> HandlerAction.Disconnect("ping_triggered_disconnect", s) },
            )
            withServerAndClient(handler, Unit) { client, server ->
                handler.awaitConnectedCallback(client)
                client.sendWithin(Frame.Text("send_ping"))
                handler.expect<Seen.Pinged>().payload shouldBe "ping"
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ByHandler(
                        "ping_triggered_disconnect",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                // The pong was queued before onPing ran, so it went out ahead of the close frame.
                server.pongs.awaitNext().decodeToString() shouldBe "ping"
                client.shouldStayAlive(handler)
            }
        }

        test("Disconnect from onInfo while connected closes gracefully with ByHandler(reason) (Parley #57)") {
            val handler = RecordingHandler<Unit>(
                onInformed = { msg, s ->
                    if (msg ==
                        "please_disconnect"
                    ) {
                        HandlerAction.Disconnect("info_disconnect", s)
                    } else {
                        HandlerAction.Ok(s)
                    }
                },
            )
            withServerAndClient(handler, Unit) { client, _ ->
                handler.awaitConnectedCallback(client)
                client.tell("please_disconnect") shouldBe true
                handler.expect<Seen.Info>().message shouldBe "please_disconnect"
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ByHandler(
                        "info_disconnect",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                client.shouldStayAlive(handler)
            }
        }

        test("Disconnect from onInfo while already disconnected reports nothing but keeps the new state (Parley #58)") {
            val handler = RecordingHandler<String>(
                onInformed = { msg, s ->
                    if (msg == "go_off") HandlerAction.Disconnect("already_off", "updated") else HandlerAction.Ok(s)
                },
            )
            withServerAndClient(handler, "initial") { client, _ ->
                handler.awaitConnectedCallback(client)
                client.disconnect()
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ClosedLocally(
                        CloseCodes.NORMAL,
                        "",
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                client.tell("go_off") shouldBe true
                handler.expect<Seen.Info>() shouldBe Seen.Info("go_off", "initial")
                // The mailbox is ordered: a second onDisconnect would be seen before this message, and the message
                // must see the state the Disconnect action returned.
                client.tell("probe") shouldBe true
                handler.expect<Seen.Info>() shouldBe Seen.Info("probe", "updated")
                client.state.value shouldBe ConnectionState.Disconnected(
                    DisconnectReason.ClosedLocally(
                        CloseCodes.NORMAL,
                        "",
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    ),
                    null,
                    0,
                )
            }
        }

        test("a Reconnect decision after a handler Disconnect reconnects to the live server (Parley #59)") {
            val handler = RecordingHandler<Unit>(
                onReceived = { frame, s ->
                    if (frame ==
                        Frame.Text("unauthorized")
                    ) {
                        HandlerAction.Disconnect("unauthorized", s)
                    } else {
                        HandlerAction.Ok(s)
                    }
                },
                // No reconnect option is configured: the decision alone must bring the connection back.
                onDisconnected = { _, s -> DisconnectDecision.Reconnect(s) },
            )
            withServerAndClient(handler, Unit) { client, server ->
                handler.awaitConnectedCallback(client)
                client.sendWithin(Frame.Text("unauthorized"))
                handler.expect<Seen.Received>()
                handler.expect<Seen.Disconnected>().reason shouldBe
                    DisconnectReason.ByHandler(
                        "unauthorized",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                // The default policy's first delay is 0.5–1 s.
                handler.expect<Seen.Connected>(5.seconds)
                client.awaitConnected()
                server.acceptedConnections.awaitCount(2)
                client.sendWithin(Frame.Text("back again"))
                handler.expect<Seen.Received>().frame shouldBe Frame.Text("back again")
            }
        }

        test("the state returned with Disconnect is the state onDisconnect sees (Parley #60)") {
            data class Flags(val disconnectedByFrame: Boolean)
            val handler = RecordingHandler<Flags>(
                onReceived = { frame, s ->
                    if (frame == Frame.Text("done")) {
                        HandlerAction.Disconnect("done", s.copy(disconnectedByFrame = true))
                    } else {
                        HandlerAction.Ok(s)
                    }
                },
            )
            withServerAndClient(handler, Flags(disconnectedByFrame = false)) { client, _ ->
                handler.awaitConnectedCallback(client)
                client.sendWithin(Frame.Text("done"))
                handler.expect<Seen.Received>()
                val seen = handler.expect<Seen.Disconnected>()
                seen.reason shouldBe
                    DisconnectReason.ByHandler(
                        "done",
                        CloseCodes.NORMAL,
                        acknowledged = true,
                        peerCode = 1000,
                        peerReason = "",
                    )
                seen.state shouldBe Flags(disconnectedByFrame = true)
            }
        }

        for ((serverName, makeServer) in listOf<Pair<String, () -> ParleyTestServer>>(
            "Ktor" to { KtorTestServer() },
            "Jetty" to { JettyTestServer() },
        )) {
            test("the close code of a Disconnect action (4000) reaches the $serverName server and onDisconnect") {
                val handler = RecordingHandler<Unit>(
                    onInformed = { _, s -> HandlerAction.Disconnect("custom", s, closeCode = 4000) },
                )
                withServerAndClient(handler, Unit, makeServer) { client, server ->
                    handler.awaitConnectedCallback(client)
                    client.tell("close with 4000") shouldBe true
                    handler.expect<Seen.Info>()
                    server.closeFrames.awaitNext() shouldBe CloseFrameRecord(4000, "")
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ByHandler(
                            "custom",
                            4000,
                            acknowledged = true,
                            peerCode = 4000,
                            peerReason = "",
                        )
                    client.awaitDisconnected().reason shouldBe
                        DisconnectReason.ByHandler(
                            "custom",
                            4000,
                            acknowledged = true,
                            peerCode = 4000,
                            peerReason = "",
                        )
                }
            }
        }
    })

/** Starts a server and a standalone client on its `/ws`, runs [block], and always releases both. */
private suspend fun <S> withServerAndClient(
    handler: RecordingHandler<S>,
    initial: S,
    makeServer: () -> ParleyTestServer = { KtorTestServer() },
    block: suspend (ParleyClient, ParleyTestServer) -> Unit,
) {
    makeServer().start().use { server ->
        val client = Parley.start(handler, initial, parleyOptions { url = server.url() })
        try {
            block(client, server)
        } finally {
            client.stop()
        }
    }
}

/** Waits until connected and onConnect has run. */
private suspend fun RecordingHandler<*>.awaitConnectedCallback(client: ParleyClient) {
    client.awaitConnected()
    expect<Seen.Connected>()
}

/** The client did not stop: it is disconnected, and a message told to it still reaches onInfo. */
private suspend fun ParleyClient.shouldStayAlive(handler: RecordingHandler<*>) {
    awaitDisconnected().shouldBeInstanceOf<ConnectionState.Disconnected>()
    tell("alive?") shouldBe true
    handler.expect<Seen.Info>().message shouldBe "alive?"
}

/** send() suspends until the frame is written: bound it, so a frame that is never written fails the test. */
private suspend fun ParleyClient.sendWithin(frame: Frame, timeout: Duration = 5.seconds) {
    withTimeoutOrNull(timeout) { send(frame) } ?: throw AssertionError("send($frame) was not written within $timeout")
}
