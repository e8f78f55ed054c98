@file:JvmName("KotlinSample")

package dev.parley.samples

import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.NotConnectedException
import dev.parley.ParleyHandler
import dev.parley.parleyOptions
import dev.parley.startParley
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A short conversation that shows what Parley is for. With no argument it talks to its own echo server and restarts
 * that server midway; with a `ws://` or `wss://` URL it talks to that server instead.
 */
public fun main(args: Array<String>): Unit = runBlocking {
    // A blank argument counts as none, so `-Dsample.url=` (empty) runs the offline conversation.
    val target = args.firstOrNull { it.isNotBlank() }
    val server = if (target == null) EchoServer().start() else null
    try {
        converse(target ?: server!!.url, server)
    } finally {
        server?.close()
    }
}

/** Prints what the server says, and hands each reply to whoever waits for one. */
private class Printer : ParleyHandler<Int> {
    var nextReply = CompletableDeferred<String>()

    override suspend fun onConnect(state: Int): HandlerAction<Int> {
        say("onConnect: connected (connection #${state + 1})")
        return HandlerAction.Ok(state + 1)
    }

    override suspend fun onFrame(frame: Frame, state: Int): HandlerAction<Int> {
        if (frame is Frame.Text) {
            say("onFrame: server said \"${frame.text}\"")
            nextReply.complete(frame.text)
        }
        return HandlerAction.Ok(state)
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Int): DisconnectDecision<Int> {
        say("onDisconnect: $reason")
        return DisconnectDecision.Default(state)
    }
}

private suspend fun converse(url: String, server: EchoServer?) = coroutineScope {
    val printer = Printer()
    val options =
        parleyOptions {
            this.url = url
            name = "kotlin-sample"
            reconnect {
                baseDelay = 200.milliseconds
                maxDelay = 2.seconds
            }
        }
    say("connecting to $url")
    val client = startParley(printer, 0, options)
    val watcher = launch { client.state.collect { say("state: ${it.describe()}") } }

    suspend fun roundTrip(text: String) {
        printer.nextReply = CompletableDeferred()
        say("send \"$text\"")
        client.send(Frame.Text(text)) // queued if still connecting; returns once written
        withTimeout(5.seconds) { printer.nextReply.await() }
    }

    roundTrip("hello")
    roundTrip("how are you?")

    if (server != null) {
        say("-- stopping the server --")
        server.stop()
        withTimeout(5.seconds) { client.state.first { it is ConnectionState.Disconnected } }
        try {
            client.send(Frame.Text("anyone there?"))
        } catch (e: NotConnectedException) {
            say("send while down failed as documented: ${e.message}")
        }
        say("-- starting the server again on port ${server.port} --")
        server.start()
        // No connect() call: the client reconnects by itself at its next backoff attempt.
        withTimeout(10.seconds) { client.state.first { it is ConnectionState.Connected } }
        roundTrip("back again")
    }

    say("disconnect(1000, \"bye\")")
    client.disconnect(1000, "bye")
    client.stop()
    watcher.cancel()
    say("done")
}

private fun ConnectionState.describe(): String = when (this) {
    is ConnectionState.Connecting -> "Connecting (attempt $attempt)"

    is ConnectionState.Connected -> "Connected"

    is ConnectionState.Disconnected ->
        "Disconnected (${reason?.let { it::class.simpleName }})" +
            (nextAttemptIn?.let { " — next attempt in ${it.inWholeMilliseconds} ms" } ?: "")

    is ConnectionState.Stopped -> "Stopped ($reason)"
}

private fun say(line: String) = println("[kotlin-sample] $line")
