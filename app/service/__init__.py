"""Customer service (客服): after-sales cases on delivered units, the customer view, and voiding a banned batch.

A sibling of loyalty in the stack of domains: it acts on orders of every channel (retail, reseller, enterprise)
through the domains below, and reacts to them through their signals."""
