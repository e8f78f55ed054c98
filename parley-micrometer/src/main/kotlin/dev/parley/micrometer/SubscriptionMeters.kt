package dev.parley.micrometer

import dev.parley.SubscriptionMetrics
import dev.parley.Subscriptions
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.Gauge
import io.micrometer.core.instrument.Meter

/**
 * The meters [ParleyMetricsBinder.withSubscriptions] adds for a [Subscriptions] layer, read from its
 * [Subscriptions.metrics] when the registry reads them, tagged as the binder's other meters:
 *
 * | meter                                  | type            | value                                            |
 * |----------------------------------------|-----------------|--------------------------------------------------|
 * | `parley.subscriptions{state=…}`        | Gauge × 3       | subscriptions `pending`, `confirmed` or `failed` now |
 * | `parley.subscriptions.restored`        | FunctionCounter | subscriptions sent again after a reconnect       |
 * | `parley.subscriptions.timed.out`       | FunctionCounter | subscriptions not confirmed within the timeout   |
 */
public object SubscriptionMeters {
    /** Gauges, one per [STATE_TAG] value in [STATES]: subscriptions in that state now. */
    public const val SUBSCRIPTIONS: String = "parley.subscriptions"

    /** FunctionCounter: subscriptions sent again on a later connection. */
    public const val RESTORED: String = "parley.subscriptions.restored"

    /** FunctionCounter: subscriptions not confirmed within their confirmation timeout. */
    public const val TIMED_OUT: String = "parley.subscriptions.timed.out"

    /** Tag key of [SUBSCRIPTIONS]. */
    public const val STATE_TAG: String = "state"

    /** The values of [STATE_TAG]. */
    @JvmField
    public val STATES: List<String> = listOf("pending", "confirmed", "failed")

    /** The meters for [subscriptions], which they hold weakly (the functions capture nothing else). */
    internal fun of(subscriptions: Subscriptions<*>): ExtraMeters = { registry, tags ->
        val meters = mutableListOf<Meter>()
        val byState = listOf<(SubscriptionMetrics) -> Int>({ it.pending }, { it.confirmed }, { it.failed })
        for ((state, value) in STATES.zip(byState)) {
            meters +=
                Gauge
                    .builder(SUBSCRIPTIONS, subscriptions) { value(it.metrics()).toDouble() }
                    .tags(tags)
                    .tag(STATE_TAG, state)
                    .description("Subscriptions in this state")
                    .register(registry)
        }
        meters +=
            FunctionCounter
                .builder(RESTORED, subscriptions) { it.metrics().restored.toDouble() }
                .tags(tags)
                .description("Subscriptions sent again after a reconnect")
                .register(registry)
        meters +=
            FunctionCounter
                .builder(TIMED_OUT, subscriptions) { it.metrics().timedOut.toDouble() }
                .tags(tags)
                .description("Subscriptions not confirmed within their confirmation timeout")
                .register(registry)
        meters
    }
}

/** [SubscriptionMeters.of], for the binder. */
internal fun subscriptionMeters(subscriptions: Subscriptions<*>): ExtraMeters = SubscriptionMeters.of(subscriptions)
