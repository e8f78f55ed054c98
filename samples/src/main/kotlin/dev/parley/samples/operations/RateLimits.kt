package dev.parley.samples.operations

import dev.parley.Frame
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import dev.parley.ratelimit.FrameCost
import dev.parley.ratelimit.TokenBucketGate
import kotlin.time.Duration.Companion.seconds

/** Bursts of 20, 10 more per second; an order weighs 5. A send waits up to 2 s for its turn, then fails. */
val exchangeLimit = TokenBucketGate(
    capacity = 20,
    refillTokens = 10,
    refillPeriod = 1.seconds,
    maxWait = 2.seconds,
    cost = FrameCost { frame -> if ("private/buy" in (frame as? Frame.Text)?.text.orEmpty()) 5 else 1 },
)

fun limitedOptions(): ParleyOptions = parleyOptions {
    url = "wss://exchange.example.com/ws/api/v2"
    sendGate = exchangeLimit // give several clients the same gate to share one limit
}
