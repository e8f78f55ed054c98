package dev.parley.samples.conversation

import dev.parley.ParleyOptions
import dev.parley.Requests
import dev.parley.SubscriptionState
import dev.parley.Subscriptions
import dev.parley.jsonrpc.JsonRpc
import dev.parley.parleyOptions
import kotlinx.coroutines.flow.first
import kotlin.time.Duration.Companion.seconds

class MarketData {
    val subscriptions = Subscriptions(JsonRpc.subscriptions("public/subscribe", "public/unsubscribe"))
    val rpc = Requests(JsonRpc.codec(), timeout = 10.seconds)

    val options: ParleyOptions = parleyOptions {
        url = "wss://exchange.example.com/ws/api/v2"
        reconnect()
        layer(subscriptions) // before Requests: it knows its own confirmations
        layer(rpc)
    }

    /** Subscribed now if connected, else on connecting; restored after every reconnect until unsubscribed. */
    suspend fun follow(channel: String): SubscriptionState {
        subscriptions.subscribe(channel)
        return subscriptions.states.first { it[channel] != SubscriptionState.Pending }.getValue(channel)
    }
}
