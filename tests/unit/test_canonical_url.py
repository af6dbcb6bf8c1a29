import pytest

from pipeline.canonical_url import canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.COM/a/b?utm_source=x&utm_medium=y&id=5#frag", "https://example.com/a/b?id=5"),
        ("http://example.com:80/a?fbclid=1", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/p?gclid=1&page=2&mc_cid=3", "https://example.com/p?page=2"),
    ],
)
def test_tracking_is_removed_and_host_lowered(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/x", "/relative/path", "https://[bad"])
def test_non_http_urls_have_no_canonical_form(url: str) -> None:
    assert canonical_url(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a/b", "https://example.com/a/b"),
        ("https://example.com/a/b?", "https://example.com/a/b"),
        ("https://example.com/a?x=1%202&flag", "https://example.com/a?x=1+2&flag="),
    ],
)
def test_urls_without_a_query_skip_only_the_query_work(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
