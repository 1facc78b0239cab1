-- The W3C trace context of the `notify` span that planned a delivery: its sends continue that trace.
ALTER TABLE deliveries ADD COLUMN traceparent TEXT;
