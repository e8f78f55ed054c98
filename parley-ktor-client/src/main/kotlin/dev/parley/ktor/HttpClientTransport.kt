package dev.parley.ktor

import dev.parley.ParleyOptions
import dev.parley.ktor.internal.KtorTransport
import dev.parley.transport.TransportFactory
import io.ktor.client.HttpClient

/**
 * Connects through [client], a Ktor `HttpClient` of your own, instead of Parley's own transport: its engine, its
 * plugins (default headers, auth, logging) and its proxy settings apply to the upgrade request.
 *
 * ```kotlin
 * val http = HttpClient(CIO) { engine { proxy = ProxyBuilder.http("http://127.0.0.1:8888") } }
 * val client = Parley.start(handler, Unit, parleyOptions { url = "wss://example.com/feed"; httpClient(http) })
 * ```
 *
 * Parley derives a client from [client] with Ktor's WebSockets plugin installed (sharing its engine) and never
 * closes the engine: you do, after the Parley clients that use it have stopped. Parley's own transport frames the
 * socket itself and is faster; choose this one for what only your `HttpClient` has. Parley needs every frame,
 * control frames included: with CIO it gets them; an engine whose WebSocket session answers pings itself hides them
 * from Parley's heartbeat.
 */
public fun ParleyOptions.Builder.httpClient(client: HttpClient) {
    transport = TransportFactory { options -> KtorTransport(client, options) }
}
