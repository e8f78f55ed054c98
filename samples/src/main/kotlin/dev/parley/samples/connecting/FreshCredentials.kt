package dev.parley.samples.connecting

import dev.parley.BearerToken
import dev.parley.ConnectionInfo
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import java.time.Instant
import kotlin.time.Duration.Companion.minutes

/** Your token endpoint: a token and when it expires. */
fun interface TokenService {
    suspend fun issue(): Pair<String, Instant>
}

fun freshTokenOptions(tokens: TokenService): ParleyOptions = parleyOptions {
    url = "wss://api.example.com/ws"
    reconnect()
    // Fetched before the first attempt, again when less than 1 minute is left or after a 401.
    val token = BearerToken(refreshBefore = 1.minutes) {
        val (value, expiresAt) = tokens.issue()
        BearerToken.Token(value, expiresAt)
    }
    bearerToken(token)
}

fun rotatingEndpointOptions(endpoints: List<String>): ParleyOptions = parleyOptions {
    url = endpoints.first()
    reconnect()
    // Asked before every attempt: here, the next endpoint in turn after each failed one.
    connectionInfo { attempt -> ConnectionInfo(url = endpoints[(attempt.attempt - 1) % endpoints.size]) }
}
