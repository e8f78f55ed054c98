package dev.parley.consumer.kotlin

import dev.parley.ConnectionState
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyHandler
import dev.parley.parleyOptions
import dev.parley.startParley
import dev.parley.testkit.WebSocketTestServer
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/*
 * Compiled by Kotlin 2.2 against kotlin-stdlib 2.2 and run by `mvn verify`: the oldest toolchain README promises.
 * It uses the API a Kotlin application uses (options DSL, a suspending handler, state, send, disconnect, stop)
 * against a real server on loopback, so a newer-Kotlin-only signature or a stdlib call above API 2.2 fails here.
 */
private class Echoes(val received: CompletableDeferred<String>) : ParleyHandler<Int> {
    override suspend fun onFrame(frame: Frame, state: Int): HandlerAction<Int> {
        if (frame is Frame.Text) received.complete(frame.text)
        return HandlerAction.Ok(state + 1)
    }
}

fun main(): Unit = runBlocking {
    WebSocketTestServer.builder().echo().start().use { server ->
        val received = CompletableDeferred<String>()
        coroutineScope {
            val client = startParley(Echoes(received), 0, parleyOptions { url = server.url() })
            withTimeout(10.seconds) {
                client.state.first { it is ConnectionState.Connected }
                client.send(Frame.Text("hello from Kotlin ${KotlinVersion.CURRENT}"))
                check(received.await() == "hello from Kotlin ${KotlinVersion.CURRENT}") { "wrong echo" }
                val peer = server.awaitConnection()
                peer.expectText("hello from Kotlin ${KotlinVersion.CURRENT}")
                client.disconnect(1000, "done")
                peer.expectClose(1000)
                client.stop()
            }
        }
    }
    println("Kotlin ${KotlinVersion.CURRENT} consumer: connected, echoed and closed")
}
