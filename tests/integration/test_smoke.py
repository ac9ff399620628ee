"""First end-to-end check: the OpenAI SDK through Bastion to the fake upstream."""

import openai


def test_openai_sdk_chat_roundtrip(gateway, fake_upstream):
    key = gateway.create_key(name="smoke")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key)
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}])
    assert r.choices[0].message.content == "echo: hi there"
    sent = fake_upstream.last("openai.chat")
    assert sent.headers["authorization"] == "Bearer sk-proj-TESTPROVIDERKEY0123456789abcdefABCDEF"
    assert key not in str(sent.headers)
