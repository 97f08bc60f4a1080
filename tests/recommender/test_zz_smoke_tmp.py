import pytest
from django.urls import reverse
from recommender import services
from recommender.models import TrainingRun
from catalog.models import Rater, Item

pytestmark = pytest.mark.django_db

def launch(algorithm, **kw):
    run = services.training_run_create(algorithm=algorithm, enqueue=False, **kw)
    services.training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run

def test_smoke(operator_client, two_taste_catalog, operator):
    pop = launch("popularity")
    knn = launch("itemknn")
    assert knn.status == "succeeded", knn.error
    services.training_run_activate(run=pop, activated_by=operator)
    services.training_run_activate(run=knn, activated_by=operator)
    rater = Rater.objects.first()
    item = Item.objects.first()
    urls = [reverse("recommender:overview"), reverse("recommender:run-list"), reverse("recommender:run-detail", args=[knn.pk]),
            reverse("recommender:run-compare") + f"?runs={pop.pk}&runs={knn.pk}", reverse("recommender:model-registry"),
            reverse("recommender:rater-browser"), reverse("recommender:rater-recommendations", args=[rater.pk]) + f"?run={pop.pk}",
            reverse("recommender:rater-what-if"), reverse("recommender:item-inspect", args=[item.pk]) + f"?run={pop.pk}",
            reverse("recommender:run-curves", args=[knn.pk])]
    for url in urls:
        r = operator_client.get(url)
        assert r.status_code == 200, (url, r.content[:2000])
        print(url, len(r.content))
    r = operator_client.get(reverse("recommender:run-compare") + f"?runs={pop.pk}&runs={knn.pk}")
    c = r.context["comparison"]
    print(c.problems, c.tests, c.without_per_user)
    r = operator_client.get(reverse("recommender:rater-recommendations", args=[rater.pk]) + f"?run={pop.pk}")
    for l in r.context["lists"]:
        print(l.strategy, l.explanation, [(x.item.title, round(x.score,3), x.reason) for x in l.items][:4])
    r = operator_client.get(reverse("recommender:item-inspect", args=[item.pk]) + f"?run={pop.pk}")
    for l in r.context["lists"]:
        print(l.strategy, l.explanation, [(x.item.title, round(x.score,3), x.reason) for x in l.items][:4])
