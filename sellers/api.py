from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import IsSeller, IsStaff, NewestFirstPagination, StrictCharField, validated
from config.openapi import errors
from sellers import selectors, services


class SellerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    balance = serializers.IntegerField()


class MeView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: SellerOutputSerializer, **errors(401, 403)})
    def get(self, request):
        return Response(SellerOutputSerializer(request.user.seller).data)


class SellerListCreateView(generics.ListAPIView):
    permission_classes = [IsStaff]
    serializer_class = SellerOutputSerializer
    pagination_class = NewestFirstPagination

    class SellerCreateInputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])

        def validate_username(self, value):
            if get_user_model().objects.filter(username=value).exists():
                raise serializers.ValidationError("A user with this username already exists.")
            return value

    class SellerCreatedSerializer(SellerOutputSerializer):
        api_token = serializers.CharField()

    def get_queryset(self):
        return selectors.seller_list()

    @extend_schema(responses={200: SellerOutputSerializer(many=True), **errors(400, 401, 403)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SellerCreateInputSerializer, responses={201: SellerCreatedSerializer, **errors(400, 401, 403, 415)}
    )
    def post(self, request):
        seller, token = services.create_seller(**validated(self.SellerCreateInputSerializer, request.data))
        body = {**SellerOutputSerializer(seller).data, "api_token": token}
        return Response(body, status=status.HTTP_201_CREATED)


class SellerDetailView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={200: SellerOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, seller_id):
        return Response(SellerOutputSerializer(selectors.get_seller(seller_id=seller_id)).data)
