package dev.parley.samples

import dev.parley.ConnectionState
import dev.parley.Frame
import dev.parley.parleyOptions
import dev.parley.startParley
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take

/** README's "Without a handler" tour, kept here so that the build proves it compiles. */
internal suspend fun handlerlessTour() = coroutineScope {
    val client = startParley(
        parleyOptions {
            url = "wss://example.com/feed"
            reconnect()
        },
    )
    client.state.first { it is ConnectionState.Connected }
    client.send(Frame.Text("""{"subscribe":"prices"}"""))
    client.incoming.take(10).collect { println(it) } // Frame.Text / Frame.Binary; pings and pongs are handled
    client.stop() // incoming completes once the client has stopped
}
